package netpol

import (
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// FuzzParsePolicy feeds arbitrary manifests to the NetworkPolicy parser and,
// when they parse, to the analysis: neither may panic, and an error must
// name the object.
func FuzzParsePolicy(f *testing.F) {
	seeds := []string{
		denyIn("shop"),
		`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: default}
spec:
  podSelector: {matchExpressions: [{key: app, operator: In, values: [web]}]}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - ipBlock: {cidr: 172.17.0.0/16, except: [172.17.1.0/24]}
    - namespaceSelector: {matchLabels: {team: a}}
      podSelector: {matchLabels: {role: frontend}}
    ports: [{protocol: TCP, port: 6379}, {port: http}, {port: 32000, endPort: 32768}]
  egress:
  - to: [{ipBlock: {cidr: "2001:db8::/32"}}]
    ports: [{protocol: UDP}]`,
		`{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"j"},"spec":{"podSelector":{},"egress":[{}]}}`,
		`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: q}
spec: {podSelector: {}, ingress: [{from: [{}]}], egress: [{ports: [{port: 0}]}]}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	objs, err := k8s.Decode("cluster.yaml", []byte(cluster))
	if err != nil {
		f.Fatal(err)
	}
	base, err := Parse(objs)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := k8s.Decode("fuzz.yaml", data)
		if err != nil {
			return
		}
		var pols []*Policy
		for _, o := range objs {
			if o.Kind() != "NetworkPolicy" {
				continue
			}
			p, err := ParsePolicy(o)
			if err != nil {
				if !strings.Contains(err.Error(), "NetworkPolicy/") {
					t.Fatalf("error does not name the object: %v", err)
				}
				continue
			}
			pols = append(pols, p)
		}
		in := &Input{Namespaces: base.Namespaces, Workloads: base.Workloads, Policies: pols}
		a := New(in)
		for _, s := range a.in.Workloads {
			src, _ := a.WorkloadEndpoint(s)
			for _, d := range append(a.Externals(), src) {
				_ = a.Reach(src, d).String()
				_ = a.Reach(d, src).String()
			}
		}
		_ = a.Findings(Options{})
		_ = a.Matrix()
	})
}
