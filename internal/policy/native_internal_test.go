package policy

import (
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestNativeOf(t *testing.T) {
	const rule = `violation[{"msg": r.msg, "details": {"check": r.check, "level": input.parameters.level, "reason": r.reason, "detail": r.detail}}] {
  r := bulwark.pod_security_review(input.review.object, input.parameters)[_]
}
`
	cases := []struct {
		name, rego, version string
		libs                []string
		native              bool
	}{
		{"the library's rule", "package x\n# a comment\n" + rule, "", nil, true},
		{"in rego v1", "package x\nviolation contains {\"msg\": r.msg, \"details\": {\"check\": r.check, \"level\": input.parameters.level, \"reason\": r.reason, \"detail\": r.detail}} if {\n  r := bulwark.pod_security_review(input.review.object, input.parameters)[_]\n}\n", "v1", nil, true},
		{"another message", "package x\n" + strings.Replace(rule, `"msg": r.msg`, `"msg": r.reason`, 1), "", nil, false},
		{"another condition", "package x\n" + strings.Replace(rule, "[_]\n", "[_]\n  r.check != \"privileged\"\n", 1), "", nil, false},
		{"another rule beside it", "package x\n" + rule + "violation[{\"msg\": \"x\"}] { true }\n", "", nil, false},
		{"a helper rule", "package x\n" + rule + "helper := 1\n", "", nil, false},
		{"an import", "package x\nimport data.lib.y\n" + rule, "", nil, false},
		{"a lib", "package x\n" + rule, "", []string{"package lib.y\nz := 1\n"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mods, _, err := parseModules("x", regoSource{rego: tc.rego, libs: tc.libs, version: tc.version})
			if err != nil {
				t.Fatal(err)
			}
			if got := nativeOf(mods) != nil; got != tc.native {
				t.Errorf("native %v, want %v", got, tc.native)
			}
		})
	}
	// Every rule a native evaluation stands for parses, so none is left out.
	if _, err := ast.ParseModuleWithOpts("r.rego", podSecurityRule, ast.ParserOptions{RegoVersion: ast.RegoV0}); err != nil {
		t.Fatal(err)
	}
	if n := len(nativeRules()); n != 1 {
		t.Errorf("%d native rules, want 1", n)
	}
}
