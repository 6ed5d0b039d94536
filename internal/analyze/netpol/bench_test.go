package netpol

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// syntheticCluster generates pods and policies shaped like a large
// multi-tenant cluster's: nNS namespaces with team labels, pods with app,
// tier and version labels and named ports, and per namespace a default
// deny, per-app ingress rules from pods, other namespaces and CIDRs, and
// egress rules to namespaces, CIDRs and DNS.
func syntheticCluster(nPods, nPolicies int, seed int64) []*k8s.Object {
	rng := rand.New(rand.NewSource(seed))
	const nNS = 50
	tiers := []string{"web", "api", "db", "cache"}
	var objs []*k8s.Object
	add := func(m map[string]any) {
		objs = append(objs, &k8s.Object{Content: m, File: "synthetic.yaml", Line: len(objs) + 1})
	}
	for n := range nNS {
		add(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{
			"name": fmt.Sprintf("ns-%d", n), "labels": map[string]any{"team": fmt.Sprintf("team-%d", n%10), "env": []string{"prod", "dev"}[n%2]}}})
	}
	for i := range nPods {
		add(map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{
			"name": fmt.Sprintf("pod-%d", i), "namespace": fmt.Sprintf("ns-%d", i%nNS),
			"labels": map[string]any{"app": fmt.Sprintf("app-%d", rng.Intn(40)), "tier": tiers[rng.Intn(4)], "version": fmt.Sprintf("v%d", rng.Intn(3))}},
			"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": "i", "ports": []any{
				map[string]any{"name": "http", "containerPort": 8080 + rng.Intn(3)},
				map[string]any{"name": "metrics", "containerPort": 9090},
			}}}}})
	}
	cidr := func() map[string]any {
		b := map[string]any{"cidr": fmt.Sprintf("10.%d.0.0/16", rng.Intn(200))}
		if rng.Intn(3) == 0 {
			b["except"] = []any{fmt.Sprintf("%s/24", b["cidr"].(string)[:len(b["cidr"].(string))-3])}
		}
		return b
	}
	for i := range nPolicies {
		ns := fmt.Sprintf("ns-%d", i%nNS)
		spec := map[string]any{}
		if i < nNS {
			spec["podSelector"] = map[string]any{}
			spec["policyTypes"] = []any{"Ingress", "Egress"}
			spec["egress"] = []any{map[string]any{"ports": []any{map[string]any{"port": 53, "protocol": "UDP"}}}}
		} else {
			spec["podSelector"] = map[string]any{"matchLabels": map[string]any{"app": fmt.Sprintf("app-%d", rng.Intn(40))}}
			spec["ingress"] = []any{
				map[string]any{
					"from":  []any{map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"tier": tiers[rng.Intn(4)]}}}},
					"ports": []any{map[string]any{"port": "http"}},
				},
				map[string]any{
					"from": []any{
						map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"team": fmt.Sprintf("team-%d", rng.Intn(10))}},
							"podSelector": map[string]any{"matchExpressions": []any{map[string]any{"key": "version", "operator": "In", "values": []any{"v1", "v2"}}}}},
						map[string]any{"ipBlock": cidr()},
					},
					"ports": []any{map[string]any{"port": 9000, "endPort": 9100}},
				},
			}
			if rng.Intn(2) == 0 {
				spec["egress"] = []any{
					map[string]any{"to": []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"env": "prod"}}}}},
					map[string]any{"to": []any{map[string]any{"ipBlock": cidr()}}, "ports": []any{map[string]any{"port": 443}}},
				}
			}
		}
		add(map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
			"metadata": map[string]any{"name": fmt.Sprintf("np-%d", i), "namespace": ns}, "spec": spec})
	}
	return objs
}

// BenchmarkNetpol5000Pods2000Policies parses 5,000 pods and 2,000
// NetworkPolicies, builds the analysis, computes the findings and the
// namespace matrix (which evaluates every pod-class pair, and every class
// to and from the internet). Target: under 10 s.
func BenchmarkNetpol5000Pods2000Policies(b *testing.B) {
	objs := syntheticCluster(5000, 2000, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		in, err := Parse(objs)
		if err != nil {
			b.Fatal(err)
		}
		a := New(in)
		_ = a.Findings(Options{})
		m := a.Matrix()
		allowed := 0
		for i := range m.Cells {
			for j := range m.Cells[i] {
				allowed += m.Cells[i][j].Allowed
			}
		}
		if allowed == 0 {
			b.Fatal("nothing allowed")
		}
		b.ReportMetric(float64(len(a.classes)), "classes")
	}
}

// BenchmarkNetpolConnections lists every workload-to-workload connection of
// the same cluster (what `bulwark netpol` prints).
func BenchmarkNetpolConnections(b *testing.B) {
	in, err := Parse(syntheticCluster(5000, 2000, 1))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		a := New(in)
		n := 0
		a.EachConnection(Filter{External: true}, func(Connection) { n++ })
		b.ReportMetric(float64(n), "connections")
	}
}
