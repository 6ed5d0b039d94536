package policy

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkReviewConstraints reviews a Pod against n constraints of one
// template (the required-labels template of the tests, each constraint
// requiring another label), as a cluster with many constraints of a
// gatekeeper-library template has. It measures the cost of a constraint
// evaluation beyond the template's own Rego.
func BenchmarkReviewConstraints(b *testing.B) {
	for _, n := range []int{1, 20} {
		b.Run(fmt.Sprintf("constraints=%d", n), func(b *testing.B) {
			ctx := context.Background()
			e := New()
			if _, err := e.AddTemplate(ctx, obj(b, requiredLabelsTemplate)); err != nil {
				b.Fatal(err)
			}
			for i := range n {
				c := fmt.Sprintf(`
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: TestRequiredLabels
metadata: {name: need-%d}
spec:
  match: {kinds: [{apiGroups: [''], kinds: [Pod]}]}
  parameters: {labels: [team, label-%d]}
`, i, i)
				if _, err := e.AddConstraint(obj(b, c)); err != nil {
					b.Fatal(err)
				}
			}
			pod := obj(b, "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: dev, labels: {team: a, label-0: b}}\nspec: {containers: [{name: a, image: x}]}\n")
			req := ObjectRequest(pod)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				res, err := e.Review(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if len(res) != n-1 {
					b.Fatalf("%d results, want %d", len(res), n-1)
				}
			}
		})
	}
}
