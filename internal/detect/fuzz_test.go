package detect

import (
	"bytes"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// FuzzParseRules feeds arbitrary rules files to the loader and compiler:
// they must be accepted or rejected with an error, never panic.
func FuzzParseRules(f *testing.F) {
	// A slice of the default rules (the whole file makes minimizing new
	// inputs slow): shared macros and the first rule.
	if i := bytes.Index(defaultRules, []byte("- rule: BW-DET-002")); i > 0 {
		f.Add(defaultRules[:i])
	}
	f.Add([]byte(baseRules))
	f.Add([]byte("- list: a\n  items: [a]\n- rule: r\n  desc: d\n  condition: ka.verb in (a)\n  output: o %ka.verb\n  priority: INFO\n  source: k8s_audit\n"))
	f.Add([]byte("- rule: r\n  exceptions:\n    - name: e\n      fields: [ka.verb]\n      values: [[a]]\n  override:\n    exceptions: append\n"))
	f.Add([]byte("- macro: m\n  condition: &x m\n- macro: n\n  condition: *x\n"))
	f.Add([]byte("---\n- required_engine_version: 0.1.0\n---\n[]\n"))
	ev, err := audit.Decode([]byte(opEvent))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Compile(Options{DefaultSource: SourceK8sAudit}, Source{Name: "fuzz.yaml", Data: data})
		if err != nil {
			return
		}
		e.Evaluate(ev)
		e.Rules()
		e.Warnings()
	})
}

// FuzzCompileCondition compiles arbitrary conditions and evaluates the
// ones that compile: never a panic.
func FuzzCompileCondition(f *testing.F) {
	for _, s := range []string{
		`ka.verb = create and not ka.user.name in (people)`,
		`(is_pod_exec or ka.uri regex "/x(y|z)*") and jevt.value[/requestObject/spec] exists`,
		`tolower(ka.user.groups) intersects (devs) and len(ka.uri) > 3`,
		`bw.sourceips in (office_and_nodes) or bw.sourceip != 10.0.0.0/8`,
		`ka.req.pod.volumes.hostpath pmatch (/var/*/kubelet, kubelet_paths)`,
		`ka.uri glob "/api/[!x]*" and ka.useragent icontains KUBE`,
		`not not (((ka.response.code >= 0x10)))`,
		`ka.uri.param[command] startswith 'sh' and ka.req.pod.containers.image[0] in (a, "b c")`,
	} {
		f.Add(s)
	}
	ev, err := audit.Decode([]byte(opEvent))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, cond string) {
		ast, err := parseCondition(cond)
		if err != nil {
			return
		}
		rs := newRuleset()
		rs.parseRules("prelude.yaml", []byte(opPrelude))
		for _, m := range rs.macros {
			m.ast, m.parseErr = parseCondition(m.cond)
		}
		cp := newCompiler(rs.lists, rs.macros)
		fn, err := cp.compile(ast, &condSource{item: "fuzz", file: "fuzz", text: cond})
		if err != nil {
			return
		}
		c := newEvalCtx(len(cp.refs))
		c.reset(ev)
		fn(c)
	})
}
