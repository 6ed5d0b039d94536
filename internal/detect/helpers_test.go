package detect

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// loadEvent decodes testdata/events/<name>.json.
func loadEvent(t testing.TB, name string) *audit.Event {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "events", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := audit.Decode(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

// eventNames lists every testdata event.
func eventNames(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	sort.Strings(names)
	return names
}

// ruleWith builds a rules file with one k8s_audit rule.
func ruleWith(cond, output string) string {
	return "- rule: test\n  desc: test\n  condition: " + yamlQuote(cond) + "\n  output: " + yamlQuote(output) +
		"\n  priority: WARNING\n  source: k8s_audit\n"
}

func yamlQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// compileCond compiles a condition as the only rule of a rules file.
func compileCond(cond string, prelude string) (*Engine, error) {
	return Compile(Options{}, Source{Name: "test.yaml", Data: []byte(prelude + ruleWith(cond, "matched"))})
}

// matches reports whether cond matches ev.
func matches(t testing.TB, cond, prelude string, ev *audit.Event) bool {
	t.Helper()
	e, err := compileCond(cond, prelude)
	if err != nil {
		t.Fatalf("compile %q: %v", cond, err)
	}
	return len(e.Evaluate(ev)) == 1
}

// extract returns the values of one field on an event.
func extract(t testing.TB, field string, ev *audit.Event) ([]string, bool) {
	t.Helper()
	p := &parser{in: field}
	name := p.lexName()
	f := fieldExpr{name: name}
	if err := p.parseFieldArg(&f); err != nil {
		t.Fatal(err)
	}
	if p.pos != len(field) {
		t.Fatalf("bad field %q", field)
	}
	cp := newCompiler(nil, nil)
	ref, err := cp.fieldRef(f)
	if err != nil {
		t.Fatal(err)
	}
	c := newEvalCtx(len(cp.refs))
	c.reset(ev)
	vals, ok := c.values(ref)
	return append([]string(nil), vals...), ok
}

// firedChecks returns the check IDs (or rule names) that fire on ev.
func firedChecks(e *Engine, ev *audit.Event) []string {
	var out []string
	for _, a := range e.Evaluate(ev) {
		id := a.Check
		if id == "" {
			id = a.Rule
		}
		out = append(out, id)
	}
	return out
}

// eventPatch holds an event a test changes before evaluating it.
type eventPatch struct{ ev *audit.Event }

// writeTemp writes a rules file and returns its path.
func writeTemp(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "local_rules.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
