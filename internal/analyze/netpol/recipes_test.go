package netpol

import (
	"strconv"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// cluster is the workloads and namespaces every recipe runs against.
const cluster = `
apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: v1
kind: Namespace
metadata: {name: other, labels: {team: other}}
---
apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {purpose: production, env: prod}}
---
apiVersion: v1
kind: Namespace
metadata: {name: dev, labels: {env: dev}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx
        ports:
        - {name: http, containerPort: 80}
        - {name: metrics, containerPort: 9090}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: default}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api, role: backend}}
    spec:
      containers:
      - name: api
        image: api
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default}
spec:
  selector: {matchLabels: {app: db}}
  serviceName: db
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - {name: db, image: postgres, ports: [{name: postgres, containerPort: 5432}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: bookstore, namespace: default}
spec:
  selector: {matchLabels: {app: bookstore}}
  template:
    metadata: {labels: {app: bookstore, role: api}}
    spec: {containers: [{name: b, image: b}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: other, labels: {app: client}}
spec: {containers: [{name: c, image: c}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: frontend, namespace: prod}
spec:
  selector: {matchLabels: {app: frontend}}
  template:
    metadata: {labels: {app: frontend, role: frontend}}
    spec: {containers: [{name: f, image: f}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: monitoring, namespace: prod}
spec:
  selector: {matchLabels: {app: monitoring}}
  template:
    metadata: {labels: {app: monitoring, type: monitoring}}
    spec: {containers: [{name: m, image: m}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: imageclassifierweb, namespace: dev}
spec:
  selector: {matchLabels: {app: imageclassifierweb}}
  template:
    metadata: {labels: {app: imageclassifierweb}}
    spec:
      containers:
      - {name: imageclassifierweb, image: kevingbb/imageclassifierweb:v3, ports: [{name: http, containerPort: 80}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: tester, namespace: dev}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app: tester}}
        spec: {containers: [{name: t, image: t}], restartPolicy: Never}
`

func analyse(t testing.TB, manifests ...string) *Analysis {
	t.Helper()
	objs, err := k8s.Decode("test.yaml", []byte(strings.Join(manifests, "\n---\n")))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	in, err := Parse(objs)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return New(in)
}

type expect struct {
	from, to string
	port     string // "TCP/80", "UDP/53", or "" for any port
	want     bool
}

func check(t *testing.T, a *Analysis, exps []expect) {
	t.Helper()
	for _, e := range exps {
		src, err := a.Find(e.from)
		if err != nil {
			t.Fatal(err)
		}
		dst, err := a.Find(e.to)
		if err != nil {
			t.Fatal(err)
		}
		ports := a.Reach(src, dst)
		got := !ports.Empty()
		if e.port != "" {
			proto, num, _ := strings.Cut(e.port, "/")
			n, _ := strconv.Atoi(num)
			got = ports.Contains(proto, n)
		}
		if got != e.want {
			t.Errorf("%s => %s %s: allowed = %v (ports %s), want %v", e.from, e.to, e.port, got, ports, e.want)
		}
	}
}

// TestRecipes encodes the Kubernetes network policy recipes
// (ahmetb/kubernetes-network-policy-recipes and the NetworkPolicy
// documentation), each with the connectivity it must give.
func TestRecipes(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		exps   []expect
	}{
		{"no policy allows everything", ``, []expect{
			{"other/client", "default/web", "TCP/80", true},
			{"default/web", "internet", "TCP/443", true},
			{"internet", "default/web", "", true},
			{"prod/frontend", "dev/imageclassifierweb", "TCP/12345", true},
			{"default/db", "default/web", "SCTP/9", true},
		}},
		{"01 deny all traffic to an application", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-deny-all, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: []`, []expect{
			{"default/api", "default/web", "", false},
			{"other/client", "default/web", "", false},
			{"internet", "default/web", "", false},
			{"default/web", "default/api", "", true}, // egress untouched
			{"default/api", "default/db", "", true},
		}},
		{"02 limit traffic to an application", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: api-allow, namespace: default}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: bookstore}}`, []expect{
			{"default/bookstore", "default/api", "TCP/8080", true},
			{"default/web", "default/api", "", false},
			{"other/client", "default/api", "", false}, // podSelector alone: own namespace only
			{"internet", "default/api", "", false},
		}},
		{"02a allow all traffic to an application", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-deny-all, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: []
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-allow-all, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - {}`, []expect{
			{"default/api", "default/web", "TCP/80", true},
			{"other/client", "default/web", "UDP/53", true},
			{"internet", "default/web", "", true},
		}},
		{"03 deny all non-whitelisted traffic to a namespace", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: default-deny-all, namespace: default}
spec:
  podSelector: {}
  ingress: []`, []expect{
			{"default/api", "default/web", "", false},
			{"default/web", "default/db", "", false},
			{"other/client", "default/db", "", false},
			{"default/web", "other/client", "", true},
			{"default/web", "internet", "", true},
		}},
		{"04 deny traffic from other namespaces", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: deny-from-other-namespaces, namespace: default}
spec:
  podSelector: {matchLabels: {}}
  ingress:
  - from:
    - podSelector: {}`, []expect{
			{"default/api", "default/web", "TCP/80", true},
			{"default/web", "default/db", "TCP/5432", true},
			{"other/client", "default/web", "", false},
			{"prod/frontend", "default/db", "", false},
			{"internet", "default/web", "", false},
		}},
		{"05 allow traffic from all namespaces", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-allow-all-namespaces, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - namespaceSelector: {}`, []expect{
			{"other/client", "default/web", "TCP/80", true},
			{"prod/frontend", "default/web", "TCP/80", true},
			{"default/api", "default/web", "TCP/80", true},
			{"internet", "default/web", "", false}, // namespaceSelector {} is every pod, not every address
		}},
		{"06 allow traffic from a namespace", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-allow-prod, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {purpose: production}}`, []expect{
			{"prod/frontend", "default/web", "TCP/80", true},
			{"prod/monitoring", "default/web", "TCP/80", true},
			{"dev/tester", "default/web", "", false},
			{"default/api", "default/web", "", false},
		}},
		{"06b allow traffic from a namespace by name", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-allow-dev, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions:
        - {key: kubernetes.io/metadata.name, operator: In, values: [dev]}`, []expect{
			{"dev/tester", "default/web", "TCP/80", true},
			{"prod/frontend", "default/web", "", false},
		}},
		{"07 allow traffic from some pods in another namespace", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-allow-all-ns-monitoring, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {purpose: production}}
      podSelector: {matchLabels: {type: monitoring}}`, []expect{
			{"prod/monitoring", "default/web", "TCP/9090", true},
			{"prod/frontend", "default/web", "", false},
			{"dev/tester", "default/web", "", false},
		}},
		{"07b two peers are OR, not AND", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-or, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {purpose: production}}
    - podSelector: {matchLabels: {type: monitoring}}`, []expect{
			{"prod/frontend", "default/web", "", true},   // any pod of prod
			{"prod/monitoring", "default/web", "", true}, // ditto
			{"default/api", "default/web", "", false},    // type=monitoring in default only
		}},
		{"08 allow external traffic", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-allow-external, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: []`, []expect{
			{"internet", "default/web", "TCP/80", true},
			{"other/client", "default/web", "TCP/80", true},
		}},
		{"09 allow traffic only to a port", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: api-allow-5000, namespace: default}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - ports:
    - {port: 5000}
    from:
    - podSelector: {matchLabels: {role: monitoring}}`, []expect{
			{"default/web", "default/api", "", false},
		}},
		{"09b allow a port from anywhere", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: api-allow-8080, namespace: default}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - ports: [{port: 8080, protocol: TCP}]`, []expect{
			{"default/web", "default/api", "TCP/8080", true},
			{"default/web", "default/api", "TCP/8081", false},
			{"default/web", "default/api", "UDP/8080", false},
			{"internet", "default/api", "TCP/8080", true},
		}},
		{"10 allow traffic with multiple selectors", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: redis-allow-services, namespace: default}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: web}}
    - podSelector: {matchLabels: {app: api, role: backend}}
    - podSelector: {matchLabels: {app: bookstore, role: frontend}}`, []expect{
			{"default/web", "default/db", "TCP/5432", true},
			{"default/api", "default/db", "TCP/5432", true},
			{"default/bookstore", "default/db", "", false}, // role is api, not frontend
		}},
		{"11 deny egress traffic from an application", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: foo-deny-egress, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: []`, []expect{
			{"default/web", "default/api", "", false},
			{"default/web", "internet", "", false},
			{"default/api", "default/web", "TCP/80", true}, // ingress untouched
		}},
		{"11b deny egress but DNS", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: foo-deny-egress, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}`, []expect{
			{"default/web", "default/api", "UDP/53", true},
			{"default/web", "internet", "TCP/53", true},
			{"default/web", "internet", "TCP/443", false},
			{"default/web", "default/api", "TCP/8080", false},
		}},
		{"12 deny all non-whitelisted egress in a namespace", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: default-deny-all-egress, namespace: default}
spec:
  policyTypes: [Egress]
  podSelector: {}
  egress: []`, []expect{
			{"default/web", "default/api", "", false},
			{"default/api", "other/client", "", false},
			{"other/client", "default/web", "", true},
		}},
		{"14 deny external egress traffic", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: foo-deny-external-egress, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
  - to:
    - namespaceSelector: {}`, []expect{
			{"default/web", "default/api", "TCP/8080", true},
			{"default/web", "prod/frontend", "TCP/1", true},
			{"default/web", "internet", "TCP/443", false},
			{"default/web", "internet", "UDP/53", true},
		}},
		{"egress inferred from rules when policyTypes is absent", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-egress-api, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  egress:
  - to: [{podSelector: {matchLabels: {app: api}}}]`, []expect{
			{"default/web", "default/api", "TCP/8080", true},
			{"default/web", "default/db", "", false},        // egress isolated (rules exist)
			{"default/api", "default/web", "TCP/80", false}, // and ingress isolated (always)
		}},
		{"policyTypes Egress only ignores ingress rules", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: egress-only, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: nothing}}}]
  egress:
  - {}`, []expect{
			{"default/api", "default/web", "TCP/80", true},
			{"default/web", "internet", "", true},
		}},
		{"both directions must allow", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-egress-only-db, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: db}}}]
    ports: [{port: 5432}]
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: db-from-api, namespace: default}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: api}}}]`, []expect{
			{"default/web", "default/db", "", false}, // egress allows, ingress does not
			{"default/api", "default/db", "TCP/5432", true},
			{"default/web", "default/api", "", false},
		}},
		{"named ports resolve against the destination", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: allow-http, namespace: default}
spec:
  podSelector: {}
  ingress:
  - ports: [{port: http}]`, []expect{
			{"other/client", "default/web", "TCP/80", true},
			{"other/client", "default/web", "TCP/8080", false},
			{"other/client", "default/api", "TCP/8080", true},
			{"other/client", "default/api", "TCP/80", false},
			{"other/client", "default/db", "", false}, // no port named http
		}},
		{"named egress ports resolve against each destination", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: client-egress-http, namespace: other}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - ports: [{port: http, protocol: TCP}]`, []expect{
			{"other/client", "default/web", "TCP/80", true},
			{"other/client", "default/api", "TCP/8080", true},
			{"other/client", "default/api", "TCP/80", false},
			{"other/client", "default/db", "", false},
			{"other/client", "internet", "", false}, // a named port matches no outside address
		}},
		{"named port with the wrong protocol", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: allow-http-udp, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports: [{port: http, protocol: UDP}]`, []expect{
			{"other/client", "default/web", "", false},
		}},
		{"endPort ranges", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: range, namespace: default}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - ports: [{port: 32000, endPort: 32768, protocol: TCP}]`, []expect{
			{"default/web", "default/db", "TCP/32000", true},
			{"default/web", "default/db", "TCP/32500", true},
			{"default/web", "default/db", "TCP/32768", true},
			{"default/web", "default/db", "TCP/32769", false},
			{"default/web", "default/db", "TCP/31999", false},
			{"default/web", "default/db", "UDP/32000", false},
		}},
		{"protocol without port", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: udp, namespace: default}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - ports: [{protocol: UDP}]`, []expect{
			{"default/web", "default/db", "UDP/1", true},
			{"default/web", "default/db", "UDP/65535", true},
			{"default/web", "default/db", "TCP/5432", false},
		}},
		{"ipBlock with except", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: test-network-policy, namespace: default}
spec:
  podSelector: {matchLabels: {role: backend}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - ipBlock: {cidr: 172.17.0.0/16, except: [172.17.1.0/24]}
    - namespaceSelector: {matchLabels: {team: other}}
    - podSelector: {matchLabels: {role: frontend}}
    ports: [{protocol: TCP, port: 6379}]
  egress:
  - to:
    - ipBlock: {cidr: 10.0.0.0/24}
    ports: [{protocol: TCP, port: 5978}]`, []expect{
			{"172.17.0.5", "default/api", "TCP/6379", true},
			{"172.17.1.5", "default/api", "TCP/6379", false},
			{"172.18.0.1", "default/api", "TCP/6379", false},
			{"internet", "default/api", "", false},
			{"other/client", "default/api", "TCP/6379", true},
			{"prod/frontend", "default/api", "", false}, // role=frontend, but in prod
			{"default/api", "10.0.0.7", "TCP/5978", true},
			{"default/api", "10.0.1.7", "", false},
			{"default/api", "internet", "", false},
			{"default/api", "default/db", "", false}, // an ipBlock does not match pods
		}},
		{"egress to the internet but private ranges", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: internet-only, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock:
        cidr: 0.0.0.0/0
        except: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]`, []expect{
			{"default/web", "internet", "TCP/443", true},
			{"default/web", "8.8.8.8", "UDP/53", true},
			{"default/web", "10.1.2.3", "", false},
			{"default/web", "192.168.1.1", "", false},
			{"default/web", "default/api", "", false},
		}},
		{"IPv6 blocks", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: v6, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: "2001:db8::/32", except: ["2001:db8:1::/48"]}`, []expect{
			{"default/web", "2001:db8::1", "", true},
			{"default/web", "2001:db8:1::1", "", false},
			{"default/web", "2001:db9::1", "", false},
			{"default/web", "internet", "", false},
		}},
		{"matchExpressions", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: expr, namespace: default}
spec:
  podSelector:
    matchExpressions:
    - {key: app, operator: In, values: [web, api]}
  ingress:
  - from:
    - podSelector:
        matchExpressions:
        - {key: role, operator: Exists}
        - {key: app, operator: NotIn, values: [api]}
    - namespaceSelector:
        matchExpressions:
        - {key: env, operator: DoesNotExist}
        - {key: kubernetes.io/metadata.name, operator: NotIn, values: [default]}`, []expect{
			{"default/bookstore", "default/web", "", true}, // role exists, app bookstore
			{"default/api", "default/web", "", false},      // app api excluded
			{"default/db", "default/web", "", false},       // no role
			{"other/client", "default/web", "", true},      // namespace without env label
			{"prod/frontend", "default/web", "", false},    // env=prod
			{"default/web", "default/db", "", true},        // db not selected
		}},
		{"policies add up", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: a, namespace: default}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 5432}]
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: b, namespace: default}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: api}}}]
    ports: [{port: 5433}]`, []expect{
			{"default/web", "default/db", "TCP/5432", true},
			{"default/web", "default/db", "TCP/5433", false},
			{"default/api", "default/db", "TCP/5433", true},
			{"default/api", "default/db", "TCP/5432", false},
		}},
		{"a policy in another namespace does not apply", `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: deny, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: []`, []expect{
			{"other/client", "default/web", "", true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, analyse(t, cluster, tt.policy), tt.exps)
		})
	}
}

// TestSeedEastWest is the seed's "validate traffic restriction between
// namespaces (east/west)": with each namespace accepting traffic only from
// itself, a pod in production cannot reach imageclassifierweb in dev.
func TestSeedEastWest(t *testing.T) {
	perNamespace := func(ns string) string {
		return `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-same-namespace, namespace: ` + ns + `}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {}}]`
	}
	a := analyse(t, `
apiVersion: v1
kind: Namespace
metadata: {name: dev}
---
apiVersion: v1
kind: Namespace
metadata: {name: production}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: imageclassifierweb, namespace: dev}
spec:
  selector: {matchLabels: {app: imageclassifierweb}}
  template:
    metadata: {labels: {app: imageclassifierweb}}
    spec:
      containers:
      - {name: imageclassifierweb, image: kevingbb/imageclassifierweb:v3, ports: [{containerPort: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: imageclassifierworker, namespace: dev}
spec:
  selector: {matchLabels: {app: imageclassifierworker}}
  template:
    metadata: {labels: {app: imageclassifierworker}}
    spec: {containers: [{name: w, image: kevingbb/imageclassifierworker:v1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: centos, namespace: production}
spec: {containers: [{name: centos, image: centos}]}
`, perNamespace("dev"), perNamespace("production"))
	check(t, a, []expect{
		{"production/centos", "dev/imageclassifierweb", "TCP/80", false},
		{"production/centos", "dev/imageclassifierweb", "", false},
		{"dev/imageclassifierworker", "dev/imageclassifierweb", "TCP/80", true},
		{"production/centos", "internet", "TCP/80", true}, // north/south is the firewall's, or an egress policy's
	})
	m := a.Matrix()
	if got := cellState(m, "production", "dev"); got != "none" {
		t.Errorf("matrix production → dev = %s, want none", got)
	}
	if got := cellState(m, "dev", "dev"); got != "all" {
		t.Errorf("matrix dev → dev = %s, want all", got)
	}
}

func cellState(m Matrix, from, to string) string {
	idx := func(n string) int {
		for i, x := range m.Names {
			if x == n {
				return i
			}
		}
		return -1
	}
	return m.Cells[idx(from)][idx(to)].State()
}
