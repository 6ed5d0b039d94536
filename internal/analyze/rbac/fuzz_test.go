package rbac

import (
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// FuzzLoad feeds arbitrary manifests to the RBAC loader and, when they
// load, to the authorizer and the findings: nothing may panic, and an error
// must name an object.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(binding("ns", "dev", "r", "{kind: User, name: u}", `[{apiGroups: [""], resources: [secrets, "*/exec"], verbs: ["*"], resourceNames: [a]}]`)))
	f.Add([]byte(binding("cluster", "", "r", "{kind: ServiceAccount, name: s, namespace: n}", `[{nonResourceURLs: ["/x/*"], verbs: [get]}]`)))
	f.Add([]byte(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: agg}
aggregationRule: {clusterRoleSelectors: [{matchExpressions: [{key: a, operator: In, values: [b]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := k8s.Decode("fuzz.yaml", data)
		if err != nil {
			return
		}
		s, err := Load(objs, LoadOptions{Bootstrap: true})
		if err != nil {
			if !strings.Contains(err.Error(), "/") {
				t.Fatalf("error names no object: %v", err)
			}
			return
		}
		_ = s.Findings(Options{})
		for _, u := range []User{Impersonate("u", nil), Impersonate("system:serviceaccount:n:s", nil)} {
			for _, r := range []Request{
				{Verb: "get", Resource: "secrets", Name: "a", Namespace: "dev"},
				{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: "n"},
				{Verb: "get", Path: "/x/y"},
			} {
				_ = s.Authorize(u, r)
				_ = s.WhoCan(r)
			}
		}
	})
}
