package admission

import (
	"bytes"
	"embed"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

//go:embed crds/*.yaml
var crdFiles embed.FS

// Defaults of bulwark install.
const (
	DefaultNamespace  = "bulwark-system"
	DefaultImageRepo  = "ghcr.io/bulwark-k8s/bulwark"
	DefaultCertSecret = "bulwark-webhook-tls"
	ServiceName       = "bulwark"
	serviceAccount    = "bulwark"
	configMapName     = "bulwark-config"
	httpsPort         = 8443
)

// InstallOptions describe an installation of bulwark in a cluster.
type InstallOptions struct {
	Namespace string
	// Image is bulwark's container image (repository:tag or @digest).
	Image    string
	Replicas int32
	// FailurePolicy and TimeoutSeconds go into the webhook configurations
	// and bulwark's own flags.
	FailurePolicy  FailurePolicy
	TimeoutSeconds int32
	Mutation       Mutation
	// Config is bulwark.yaml, mounted from a ConfigMap.
	Config []byte
	// ExemptNamespaces are left out by the webhooks' namespaceSelector
	// (the configuration's exemptNamespaces); Namespace is added.
	ExemptNamespaces []string
	// Labels are put on every object (chargeback labels such as
	// cost-center).
	Labels map[string]string
	// CABundle, when set, goes into the webhook configurations; without it
	// bulwark patches in the bundle of the CA it manages.
	CABundle []byte
	// APIServerCIDRs are where the API server is, for the egress
	// NetworkPolicy; empty allows ports 443 and 6443 to any address.
	APIServerCIDRs []string
	// Audit, when set, adds the receiver of the API server's audit webhook.
	Audit *AuditReceiver
}

func (o *InstallOptions) defaults() {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Replicas == 0 {
		o.Replicas = 2
	}
	if o.FailurePolicy == "" {
		o.FailurePolicy = Ignore
	}
	if o.TimeoutSeconds == 0 {
		o.TimeoutSeconds = 5
	}
}

// AuditResources are the resources the background audit reads: the kinds
// the built-in library judges. Secrets are left out on purpose: bulwark
// needs no read access to them (BW-K8S-004).
func AuditResources() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "namespaces", "serviceaccounts", "services", "configmaps", "nodes", "persistentvolumes", "replicationcontrollers", "podtemplates"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "replicasets", "statefulsets", "daemonsets"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "clusterroles", "rolebindings", "clusterrolebindings"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "networkpolicies"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"storageclasses"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"aquasecurity.github.io"}, Resources: []string{"vulnerabilityreports", "clustervulnerabilityreports", "imagevulnerabilityreports"}, Verbs: []string{"list", "watch"}},
	}
}

// clusterRules are everything bulwark does cluster-wide, and nothing more.
func clusterRules() []rbacv1.PolicyRule {
	rules := AuditResources()
	return append(rules,
		// Its own webhook configurations: the CA bundle.
		rbacv1.PolicyRule{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"},
			ResourceNames: []string{ConfigurationName}, Verbs: []string{"get", "update"}},
		// Policies managed with kubectl.
		rbacv1.PolicyRule{APIGroups: []string{"templates.gatekeeper.sh"}, Resources: []string{"constrainttemplates"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{"templates.gatekeeper.sh"}, Resources: []string{"constrainttemplates/status"}, Verbs: []string{"get", "update"}},
		// Constraint kinds come into being with their templates, so they
		// cannot be listed here by name.
		rbacv1.PolicyRule{APIGroups: []string{"constraints.gatekeeper.sh"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"}, Verbs: []string{"get", "list", "watch", "create", "update", "delete"}},
		// Background audit results.
		rbacv1.PolicyRule{APIGroups: []string{"wgpolicyk8s.io"}, Resources: []string{"policyreports", "clusterpolicyreports"}, Verbs: []string{"get", "list", "watch", "create", "update", "delete"}},
		// Who may read /metrics: tokens reviewed, users authorized.
		rbacv1.PolicyRule{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		rbacv1.PolicyRule{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
	)
}

// Manifests returns every object of an installation, in the order to
// apply them: CRDs, namespace, RBAC, configuration, workload, webhooks.
func Manifests(o InstallOptions) ([]map[string]any, error) {
	o.defaults()
	if o.Image == "" {
		return nil, fmt.Errorf("install: no image")
	}
	meta := installMeta(o)
	labels := meta("", false).Labels
	selector := map[string]string{"app.kubernetes.io/name": "bulwark", "app.kubernetes.io/component": "server"}
	podLabels := map[string]string{"app.kubernetes.io/component": "server"}
	for k, v := range labels {
		podLabels[k] = v
	}

	var objs []any
	crds, err := CRDs()
	if err != nil {
		return nil, err
	}
	for _, c := range crds {
		objs = append(objs, c)
	}

	nsLabels := map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	}
	for k, v := range labels {
		nsLabels[k] = v
	}
	f := false
	objs = append(objs,
		&corev1.Namespace{TypeMeta: tm("v1", "Namespace"), ObjectMeta: metav1.ObjectMeta{Name: o.Namespace, Labels: nsLabels}},
		&corev1.ServiceAccount{TypeMeta: tm("v1", "ServiceAccount"), ObjectMeta: meta(serviceAccount, true), AutomountServiceAccountToken: &f},
		&rbacv1.ClusterRole{TypeMeta: tm("rbac.authorization.k8s.io/v1", "ClusterRole"), ObjectMeta: meta("bulwark", false), Rules: clusterRules()},
		&rbacv1.ClusterRoleBinding{
			TypeMeta: tm("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"), ObjectMeta: meta("bulwark", false),
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "bulwark"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: serviceAccount, Namespace: o.Namespace}},
		},
		// Bind it to Prometheus' service account to let it scrape bulwark.
		&rbacv1.ClusterRole{
			TypeMeta: tm("rbac.authorization.k8s.io/v1", "ClusterRole"), ObjectMeta: meta("bulwark-metrics-reader", false),
			Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
		},
		&rbacv1.Role{
			TypeMeta: tm("rbac.authorization.k8s.io/v1", "Role"), ObjectMeta: meta("bulwark", true),
			Rules: []rbacv1.PolicyRule{
				// Its own certificate Secret, and nothing else among secrets.
				{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{DefaultCertSecret}, Verbs: []string{"get", "update"}},
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
				// The background audit's leader election.
				{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{"bulwark-audit"}, Verbs: []string{"get", "update"}},
				{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
			},
		},
		&rbacv1.RoleBinding{
			TypeMeta: tm("rbac.authorization.k8s.io/v1", "RoleBinding"), ObjectMeta: meta("bulwark", true),
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "bulwark"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: serviceAccount, Namespace: o.Namespace}},
		},
		&corev1.ConfigMap{TypeMeta: tm("v1", "ConfigMap"), ObjectMeta: meta(configMapName, true), Data: map[string]string{"bulwark.yaml": string(o.Config)}},
		deployment(o, meta("bulwark", true), selector, podLabels),
		httpsService(meta(ServiceName, true), selector),
		&policyv1.PodDisruptionBudget{
			TypeMeta: tm("policy/v1", "PodDisruptionBudget"), ObjectMeta: meta("bulwark", true),
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: selector}},
		},
	)
	objs = append(objs, networkPolicies(o, meta, selector)...)
	if o.Audit != nil {
		audit, err := auditObjects(o, meta)
		if err != nil {
			return nil, err
		}
		objs = append(objs, audit...)
	}
	wc := WebhookConfig{
		Service:          &admissionregistrationv1.ServiceReference{Namespace: o.Namespace, Name: ServiceName},
		CABundle:         o.CABundle,
		FailurePolicy:    o.FailurePolicy,
		TimeoutSeconds:   o.TimeoutSeconds,
		ExemptNamespaces: append(append([]string{}, o.ExemptNamespaces...), o.Namespace),
		Labels:           labels,
	}
	objs = append(objs, ValidatingWebhookConfiguration(wc))
	if o.Mutation.Enabled() {
		objs = append(objs, MutatingWebhookConfiguration(wc))
	}

	return toMaps(objs)
}

// installMeta names an object of the installation: every object has the
// installation's labels, and a namespaced one its namespace.
func installMeta(o InstallOptions) func(name string, namespaced bool) metav1.ObjectMeta {
	labels := map[string]string{"app.kubernetes.io/name": "bulwark", "app.kubernetes.io/part-of": "bulwark"}
	for k, v := range o.Labels {
		labels[k] = v
	}
	return func(name string, namespaced bool) metav1.ObjectMeta {
		m := metav1.ObjectMeta{Name: name, Labels: labels}
		if namespaced {
			m.Namespace = o.Namespace
		}
		return m
	}
}

func toMaps(objs []any) ([]map[string]any, error) {
	out := make([]map[string]any, 0, len(objs))
	for _, obj := range objs {
		m, err := toMap(obj)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func deployment(o InstallOptions, meta metav1.ObjectMeta, selector, podLabels map[string]string) *appsv1.Deployment {
	args := []string{
		"serve", "--admission",
		"--listen=:" + strconv.Itoa(httpsPort),
		"--config=/etc/bulwark/bulwark.yaml",
		"--failure-policy=" + strings.ToLower(string(o.FailurePolicy)),
		"--service=" + ServiceName,
		"--cert-secret=" + DefaultCertSecret,
		"--webhook-configuration=" + ConfigurationName,
		"--shutdown-delay=5s",
		"--log-format=json",
		"--leader-elect",
	}
	if o.Mutation.ImagePullPolicyAlways {
		args = append(args, "--mutate")
	}
	if o.Mutation.SecurityContextDefaults {
		args = append(args, "--mutate-security-context")
	}
	zero := intstr.FromInt32(0)
	one := intstr.FromInt32(1)
	c := serverContainer(o.Image, args, 5, corev1.VolumeMount{Name: "config", MountPath: "/etc/bulwark", ReadOnly: true})
	// POD_NAME identifies the replica in leader election.
	c.Env = slices.Insert(c.Env, 1, corev1.EnvVar{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}})
	spec := serverPodSpec(serviceAccount, 45, c, corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: configMapName}}}})
	spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{
				LabelSelector: &metav1.LabelSelector{MatchLabels: selector},
				TopologyKey:   "kubernetes.io/hostname",
			},
		}},
	}}
	return &appsv1.Deployment{
		TypeMeta:   tm("apps/v1", "Deployment"),
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Replicas: &o.Replicas,
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &one}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels}, Spec: spec},
		},
	}
}

// httpsService is a ClusterIP Service on 443 for the https port of the
// pods selector selects.
func httpsService(meta metav1.ObjectMeta, selector map[string]string) *corev1.Service {
	return &corev1.Service{
		TypeMeta: tm("v1", "Service"), ObjectMeta: meta,
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: selector,
			Ports:    []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromString("https"), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// serverContainer is a bulwark serve container: non-root, read-only root
// filesystem, no capabilities, limits, GOMEMLIMIT from the memory limit,
// HTTPS probes every probeSeconds, the API token and /tmp mounted besides
// mounts.
func serverContainer(image string, args []string, probeSeconds int32, mounts ...corev1.VolumeMount) corev1.Container {
	t, f := true, false
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("https"), Scheme: corev1.URISchemeHTTPS}},
			PeriodSeconds: probeSeconds, TimeoutSeconds: 2, FailureThreshold: 3}
	}
	return corev1.Container{
		Name:            "bulwark",
		Image:           image,
		ImagePullPolicy: corev1.PullAlways,
		Args:            args,
		Env: []corev1.EnvVar{
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1")}}},
		},
		Ports: []corev1.ContainerPort{{Name: "https", ContainerPort: httpsPort, Protocol: corev1.ProtocolTCP}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")},
		},
		ReadinessProbe: probe("/readyz"),
		LivenessProbe:  probe("/healthz"),
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: &f,
			ReadOnlyRootFilesystem:   &t,
			RunAsNonRoot:             &t,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		VolumeMounts: append(mounts,
			// The API token, mounted explicitly: the service account does
			// not automount it (BW-K8S-005).
			corev1.VolumeMount{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true},
			corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"},
		),
	}
}

// serverPodSpec runs container c as UID 65532 under service account sa,
// with the volumes besides the API token and /tmp.
func serverPodSpec(sa string, graceSeconds int64, c corev1.Container, volumes ...corev1.Volume) corev1.PodSpec {
	t, f := true, false
	uid := int64(65532)
	expiry := int64(3607)
	return corev1.PodSpec{
		ServiceAccountName:            sa,
		AutomountServiceAccountToken:  &f,
		TerminationGracePeriodSeconds: &graceSeconds,
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot: &t, RunAsUser: &uid, RunAsGroup: &uid,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{c},
		Volumes: append(volumes,
			corev1.Volume{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &expiry}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
			}}}},
			corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr(resource.MustParse("64Mi"))}}},
		),
	}
}

// networkPolicies deny everything in bulwark's namespace, then let the API
// server reach the webhook and bulwark reach the API server and the
// cluster's DNS in kube-system.
func networkPolicies(o InstallOptions, meta func(string, bool) metav1.ObjectMeta, selector map[string]string) []any {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	port := func(p corev1.Protocol, n int32) networkingv1.NetworkPolicyPort {
		pp := p
		v := intstr.FromInt32(n)
		return networkingv1.NetworkPolicyPort{Protocol: &pp, Port: &v}
	}
	np := func(name string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{TypeMeta: tm("networking.k8s.io/v1", "NetworkPolicy"), ObjectMeta: meta(name, true), Spec: spec}
	}
	both := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	apiServer := cidrPeers(o.APIServerCIDRs)
	return []any{
		np("default-deny", networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{}, PolicyTypes: both}),
		np("bulwark", networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: selector},
			PolicyTypes: both,
			// The API server's address is the cluster's own: not known
			// here. The webhook port only, from anywhere.
			Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{port(tcp, httpsPort)}}},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{Ports: []networkingv1.NetworkPolicyPort{port(tcp, 443), port(tcp, 6443)}, To: apiServer},
				{Ports: []networkingv1.NetworkPolicyPort{port(udp, 53), port(tcp, 53)}, To: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
				}}},
			},
		}),
	}
}

// CRDs returns the CustomResourceDefinitions bulwark serves or writes:
// ConstraintTemplate, PolicyReport and ClusterPolicyReport.
func CRDs() ([]map[string]any, error) {
	var out []map[string]any
	for _, f := range []string{"crds/constrainttemplates.yaml", "crds/policyreports.yaml"} {
		b, err := crdFiles.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, m)
	}
	// ClusterPolicyReport is PolicyReport, cluster-scoped.
	var cpr map[string]any
	b, _ := yaml.Marshal(out[1])
	if err := yaml.Unmarshal(b, &cpr); err != nil {
		return nil, err
	}
	cpr["metadata"].(map[string]any)["name"] = "clusterpolicyreports.wgpolicyk8s.io"
	spec := cpr["spec"].(map[string]any)
	spec["scope"] = "Cluster"
	spec["names"] = map[string]any{"kind": "ClusterPolicyReport", "listKind": "ClusterPolicyReportList",
		"plural": "clusterpolicyreports", "singular": "clusterpolicyreport", "shortNames": []any{"cpolr"}}
	return append(out, cpr), nil
}

// YAML renders objects as one multi-document YAML stream.
func YAML(objs []map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		b, err := yaml.Marshal(o)
		if err != nil {
			return nil, err
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

func tm(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func ptr[T any](v T) *T { return &v }

// toMap converts a typed object to plain JSON values without the fields
// only the API server fills (creationTimestamp, status).
func toMap(obj any) (map[string]any, error) {
	if m, ok := obj.(map[string]any); ok {
		return m, nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	prune(m)
	return m, nil
}

// prune removes nulls, empty objects and status recursively.
func prune(m map[string]any) {
	delete(m, "status")
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch v := m[k].(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			prune(v)
			if len(v) == 0 && k != "podSelector" && k != "emptyDir" {
				delete(m, k)
			}
		case []any:
			for _, e := range v {
				if em, ok := e.(map[string]any); ok {
					prune(em)
				}
			}
		}
	}
}
