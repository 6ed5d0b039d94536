package k8s

import (
	"strings"
	"testing"
)

func TestCheckKind(t *testing.T) {
	tests := []struct{ apiVersion, kind, want string }{
		{"v1", "Pod", ""},
		{"apps/v1", "Deployment", ""},
		{"networking.k8s.io/v1", "NetworkPolicy", ""},
		{"v1", "List", ""},
		{"templates.gatekeeper.sh/v1", "ConstraintTemplate", ""},
		{"example.com/v1", "Anything", ""},
		{"apps/v1", "Deploymnet", `unknown kind "Deploymnet" in the apps API group (did you mean "Deployment"?)`},
		{"v1", "Pood", `did you mean "Pod"?`},
		{"apps/v1", "Frobnicator", `unknown kind "Frobnicator" in the apps API group`},
		{"apps/v1beta9", "Deployment", "apps/v1beta9 Deployment is not served by Kubernetes (versions of Deployment: "},
	}
	for _, tc := range tests {
		o := &Object{Content: map[string]any{"apiVersion": tc.apiVersion, "kind": tc.kind}}
		err := CheckKind(o)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %s: %v", tc.apiVersion, tc.kind, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s %s: error %v, want %q", tc.apiVersion, tc.kind, err, tc.want)
		}
	}
}
