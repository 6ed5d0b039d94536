package netpol

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/controls"
	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

func TestChecksAreValid(t *testing.T) {
	if _, err := controls.NewCatalog(Checks()...); err != nil {
		t.Fatal(err)
	}
	for _, c := range Checks() {
		if c.Engine != controls.EngineAnalyze || !slices.Contains(c.Requirements, "REQ-07") || !slices.Contains(c.Requirements, "PRAC-NETPOL") {
			t.Errorf("check %s: bad engine or requirements", c.ID)
		}
	}
}

const twoNamespaces = `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: ops}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web, ports: [{containerPort: 80}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: agent, namespace: ops}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: a, image: a}]}
`

const denyAll = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: %s}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
`

func denyIn(ns string) string { return strings.Replace(denyAll, "%s", ns, 1) }

func findingsOf(t *testing.T, manifests ...string) []controls.Finding {
	t.Helper()
	objs, err := k8s.Decode("np.yaml", []byte(strings.Join(manifests, "\n---\n")))
	if err != nil {
		t.Fatal(err)
	}
	fs, cov, err := Analyze(objs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range Checks() {
		if cov.Evaluated[c.ID] == 0 {
			t.Errorf("%s not marked evaluated", c.ID)
		}
	}
	return fs
}

func TestFindings(t *testing.T) {
	type want struct{ check, object string }
	tests := []struct {
		name      string
		manifests []string
		want      []want
	}{
		{"no policies", []string{twoNamespaces}, []want{
			{CheckDefaultDenyIngress, "Namespace/ops"}, {CheckDefaultDenyEgress, "Namespace/ops"},
			{CheckDefaultDenyIngress, "Namespace/shop"}, {CheckDefaultDenyEgress, "Namespace/shop"},
			{CheckOpenToNamespaces, "Deployment/ops/agent"}, {CheckOpenToNamespaces, "Deployment/shop/web"},
		}},
		{"default deny everywhere", []string{twoNamespaces, denyIn("shop"), denyIn("ops")}, nil},
		{"deny ingress only", []string{twoNamespaces, denyIn("ops"), `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: shop}
spec:
  podSelector: {}
  ingress: []`}, []want{{CheckDefaultDenyEgress, "Namespace/shop"}}},
		{"allow-all is not a default deny", []string{twoNamespaces, denyIn("ops"), `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress: [{}]
  egress: [{to: [{namespaceSelector: {}}]}]`}, []want{
			{CheckDefaultDenyIngress, "Namespace/shop"},
			{CheckOpenToNamespaces, "Deployment/shop/web"},
		}},
		{"a selecting policy is not a default deny", []string{twoNamespaces, denyIn("ops"), `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-only, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress, Egress]`}, []want{
			{CheckDefaultDenyIngress, "Namespace/shop"}, {CheckDefaultDenyEgress, "Namespace/shop"},
		}},
		{"open to every namespace", []string{twoNamespaces, denyIn("shop"), denyIn("ops"), `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-all, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {}, podSelector: {matchLabels: {role: scraper}}}]`}, []want{
			{CheckOpenToNamespaces, "Deployment/shop/web"},
		}},
		{"open to one namespace only", []string{twoNamespaces, denyIn("shop"), denyIn("ops"), `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-ops, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ops}}}]`}, nil},
		{"egress to 0.0.0.0/0", []string{twoNamespaces, denyIn("shop"), denyIn("ops"), `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-internet, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]
    ports: [{port: 443}]`}, []want{{CheckInternetEgress, "NetworkPolicy/shop/web-internet"}}},
		{"egress to any destination", []string{twoNamespaces, denyIn("shop"), denyIn("ops"), `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ops-out, namespace: ops}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{}]`}, []want{{CheckInternetEgress, "NetworkPolicy/ops/ops-out"}}},
		{"egress to a private range is fine", []string{twoNamespaces, denyIn("shop"), denyIn("ops"), `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-db, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 10.20.0.0/16}}]`}, nil},
		{"system namespaces are skipped", []string{twoNamespaces, denyIn("shop"), denyIn("ops"), `
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := findingsOf(t, tt.manifests...)
			var got []want
			for _, f := range fs {
				got = append(got, want{f.Check, f.Object.String()})
				if f.File != "np.yaml" || f.Line == 0 || f.Engine != controls.EngineAnalyze {
					t.Errorf("finding without position or engine: %+v", f)
				}
			}
			less := func(a, b want) int { return strings.Compare(a.check+a.object, b.check+b.object) }
			slices.SortFunc(got, less)
			wantSorted := slices.Clone(tt.want)
			slices.SortFunc(wantSorted, less)
			if !slices.Equal(got, wantSorted) {
				for _, f := range fs {
					t.Log(f.Check, f.Message)
				}
				t.Errorf("findings %v, want %v", got, wantSorted)
			}
		})
	}
}

func TestCoverageWithoutInput(t *testing.T) {
	_, cov, err := Analyze(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cov.Evaluated) != 0 || len(cov.NotAssessed) != len(Checks()) {
		t.Errorf("coverage %+v, want every check not assessed", cov)
	}
}

func TestBadInput(t *testing.T) {
	const head = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bad, namespace: ns}\n"
	tests := []struct {
		name, manifest, want string
	}{
		{"unknown field", head + "spec:\n  podSelector: {}\n  ingres: []", `unknown field "spec.ingres"`},
		{"unknown peer field", head + "spec:\n  podSelector: {}\n  ingress: [{from: [{podSelektor: {}}]}]", `unknown field "spec.ingress[0].from[0].podSelektor"`},
		{"unknown operator", head + "spec:\n  podSelector: {matchExpressions: [{key: app, operator: Equals, values: [x]}]}", `spec.podSelector: "Equals" is not a valid label selector operator`},
		{"In without values", head + "spec:\n  podSelector: {}\n  ingress: [{from: [{namespaceSelector: {matchExpressions: [{key: a, operator: In}]}}]}]", `spec.ingress[0].from[0].namespaceSelector: values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty`},
		{"bad label value", head + "spec:\n  podSelector: {matchLabels: {app: 'no spaces'}}", `spec.podSelector: values[0][app]: Invalid value: "no spaces"`},
		{"bad CIDR", head + "spec:\n  podSelector: {}\n  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/33}}]}]", `spec.egress[0].to[0].ipBlock.cidr: invalid CIDR "10.0.0.0/33"`},
		{"not a CIDR", head + "spec:\n  podSelector: {}\n  egress: [{to: [{ipBlock: {cidr: internet}}]}]", `invalid CIDR "internet"`},
		{"except outside", head + "spec:\n  podSelector: {}\n  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}]}]", `except[0]: 11.0.0.0/16 must be a strict subset of cidr 10.0.0.0/8`},
		{"ipBlock with selector", head + "spec:\n  podSelector: {}\n  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]", `may not specify ipBlock together with podSelector or namespaceSelector`},
		{"empty peer", head + "spec:\n  podSelector: {}\n  ingress: [{from: [{}]}]", `spec.ingress[0].from[0]: must specify a peer`},
		{"bad protocol", head + "spec:\n  podSelector: {}\n  ingress: [{ports: [{protocol: ICMP}]}]", `spec.ingress[0].ports[0].protocol: unsupported value "ICMP"`},
		{"port out of range", head + "spec:\n  podSelector: {}\n  ingress: [{ports: [{port: 70000}]}]", `must be between 1 and 65535`},
		{"bad named port", head + "spec:\n  podSelector: {}\n  ingress: [{ports: [{port: '8080'}]}]", `spec.ingress[0].ports[0].port: invalid value "8080"`},
		{"endPort without port", head + "spec:\n  podSelector: {}\n  ingress: [{ports: [{endPort: 90}]}]", `endPort: may not be specified when port is not specified`},
		{"endPort below port", head + "spec:\n  podSelector: {}\n  ingress: [{ports: [{port: 90, endPort: 80}]}]", `endPort: 80 must be greater than or equal to port 90`},
		{"bad policy type", head + "spec:\n  podSelector: {}\n  policyTypes: [Both]", `spec.policyTypes[0]: unsupported value "Both"`},
		{"wrong type", head + "spec:\n  podSelector: []", `cannot unmarshal array into Go struct field NetworkPolicySpec.spec.podSelector`},
		{"fractional port", head + "spec:\n  podSelector: {}\n  ingress: [{ports: [{port: 80.5}]}]", `cannot unmarshal number 80.5`},
		{"workload labels", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns, labels: [a]}\nspec: {containers: [{name: c, image: i}]}", `Pod/ns/p: metadata.labels must be a mapping`},
		{"container port", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec: {containers: [{name: c, image: i, ports: [{containerPort: http}]}]}", `spec.containers[0].ports[0].containerPort must be a number between 1 and 65535`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := k8s.Decode("bad.yaml", []byte(tt.manifest))
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = Analyze(objs, Options{})
			if err == nil {
				t.Fatal("no error")
			}
			var oe *ObjectError
			if !errors.As(err, &oe) {
				t.Errorf("error %T is not an *ObjectError: %v", err, err)
			}
			if !strings.HasPrefix(err.Error(), "bad.yaml:1: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q: want bad.yaml:1: ... %q", err, tt.want)
			}
		})
	}
}
