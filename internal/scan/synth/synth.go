// Package synth generates synthetic cluster manifests for benchmarks and
// load tests: namespaces with a realistic mix of workloads, services,
// config maps and policies, some compliant and some not.
package synth

import (
	"fmt"
	"io"
)

// Write writes n objects as multi-document YAML. The mix per 10 objects:
// 3 Deployments, 2 Services, 2 ConfigMaps, 1 Pod, 1 NetworkPolicy and 1
// RoleBinding; one Namespace per 100 objects.
func Write(w io.Writer, n int) error {
	for i := 0; i < n; i++ {
		ns := fmt.Sprintf("team-%03d", i/100)
		var doc string
		switch {
		case i%100 == 0:
			doc = fmt.Sprintf(namespaceTmpl, ns, i%3)
		case i%10 < 3:
			doc = fmt.Sprintf(deploymentTmpl, i, ns, i, i, registry(i), i, i%4 == 0)
		case i%10 < 5:
			doc = fmt.Sprintf(serviceTmpl, i, ns, serviceType(i), i)
		case i%10 < 7:
			doc = fmt.Sprintf(configMapTmpl, i, ns, i)
		case i%10 == 7:
			doc = fmt.Sprintf(podTmpl, i, ns, registry(i), i%5 == 0)
		case i%10 == 8:
			doc = fmt.Sprintf(netpolTmpl, i, ns)
		default:
			doc = fmt.Sprintf(bindingTmpl, i, ns, i)
		}
		if _, err := io.WriteString(w, "---\n"+doc); err != nil {
			return err
		}
	}
	return nil
}

func registry(i int) string {
	if i%7 == 0 {
		return "docker.io/library/nginx:1.25"
	}
	return fmt.Sprintf("contoso.azurecr.io/app-%d:v%d", i%50, i%9)
}

func serviceType(i int) string {
	if i%13 == 0 {
		return "LoadBalancer"
	}
	return "ClusterIP"
}

const namespaceTmpl = `apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels:
    cost-center: cc-%d
`

const deploymentTmpl = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%d
  namespace: %s
  labels: {app: app-%d, cost-center: cc-1}
spec:
  replicas: 2
  selector: {matchLabels: {app: app-%d}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}
  template:
    metadata: {labels: {app: app}}
    spec:
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: app
          image: %s
          imagePullPolicy: Always
          ports: [{containerPort: 8080, name: http}]
          env: [{name: INDEX, value: "%d"}]
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: %v, capabilities: {drop: [ALL]}}
          resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 500m, memory: 256Mi}}
          readinessProbe: {httpGet: {path: /healthz, port: http}}
`

const serviceTmpl = `apiVersion: v1
kind: Service
metadata:
  name: svc-%d
  namespace: %s
spec:
  type: %s
  selector: {app: app-%d}
  ports: [{port: 80, targetPort: 8080}]
`

const configMapTmpl = `apiVersion: v1
kind: ConfigMap
metadata:
  name: cm-%d
  namespace: %s
data:
  LOG_LEVEL: info
  FEATURE_FLAGS: "a,b,c"
  INDEX: "%d"
`

const podTmpl = `apiVersion: v1
kind: Pod
metadata:
  name: pod-%d
  namespace: %s
spec:
  containers:
    - name: main
      image: %s
      securityContext: {privileged: %v}
`

const netpolTmpl = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: np-%d
  namespace: %s
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
`

const bindingTmpl = `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: rb-%d
  namespace: %s
subjects: [{kind: User, name: user-%d@contoso.com, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: ClusterRole, name: view, apiGroup: rbac.authorization.k8s.io}
`
