package detect

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func compileYAML(files ...string) (*Engine, error) {
	var srcs []Source
	for i, f := range files {
		name := "base.yaml"
		if i > 0 {
			name = "local.yaml"
		}
		srcs = append(srcs, Source{Name: name, Data: []byte(f)})
	}
	return Compile(Options{}, srcs...)
}

func ruleNamed(t *testing.T, e *Engine, name string) Rule {
	t.Helper()
	for _, r := range e.Rules() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no rule %q", name)
	return Rule{}
}

const baseRules = `
- required_engine_version: 15
- required_plugin_versions:
  - name: k8saudit
    version: 0.7.0
    alternatives:
      - name: k8saudit-eks
        version: 0.4.0
  - name: json
    version: 0.7.0
- list: verbs_a
  items: [create, update]
- list: verbs_b
  items: [verbs_a, "patch"]
- macro: changing
  condition: ka.verb in (verbs_b)
- macro: on_pods
  condition: ka.target.resource = pods
- macro: changing_pods
  condition: changing and on_pods
- rule: Pod Changed
  desc: a pod changed
  condition: changing_pods
  output: pod changed by %ka.user.name
  priority: info
  source: k8s_audit
  tags: [k8s, one]
- rule: Disabled One
  desc: disabled
  condition: ka.verb = get
  output: get
  priority: Debug
  source: k8s_audit
  enabled: false
- rule: Syscall Rule
  desc: for another source
  condition: evt.type = execve and proc.name = bash
  output: shell %proc.cmdline
  priority: NOTICE
- rule: Cloud Rule
  desc: cloudtrail
  condition: ct.name = ConsoleLogin
  output: login
  priority: CRITICAL
  source: aws_cloudtrail
- future_item: something new
`

func TestLoadItemKinds(t *testing.T) {
	e, err := compileYAML(baseRules)
	if err != nil {
		t.Fatal(err)
	}
	st := e.Stats()
	if st.Lists != 2 || st.Macros != 3 || st.Rules != 4 || st.Compiled != 2 || st.Enabled != 1 {
		t.Errorf("stats %+v", st)
	}
	if st.OtherSources["syscall"] != 1 || st.OtherSources["aws_cloudtrail"] != 1 {
		t.Errorf("other sources %v", st.OtherSources)
	}
	r := ruleNamed(t, e, "Pod Changed")
	if r.Priority != PriorityInformational || !slices.Equal(r.Tags, []string{"k8s", "one"}) || !r.Enabled || r.Line != 21 || r.File != "base.yaml" {
		t.Errorf("rule %+v", r)
	}
	if ruleNamed(t, e, "Disabled One").Enabled {
		t.Error("enabled: false ignored")
	}
	var warned bool
	for _, w := range e.Warnings() {
		if w.Msg == "Unknown top level item" && w.Line == 46 {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning for the unknown item: %v", e.Warnings())
	}
	ev := loadEvent(t, "pod-privileged")
	if got := firedChecks(e, ev); !slices.Equal(got, []string{"Pod Changed"}) {
		t.Errorf("fired %v", got)
	}
	if got := firedChecks(e, loadEvent(t, "secret-get")); len(got) != 0 {
		t.Errorf("disabled rule fired: %v", got)
	}
}

func TestDefaultSourceOption(t *testing.T) {
	src := Source{Name: "x.yaml", Data: []byte(`
- rule: No Source
  desc: d
  condition: ka.verb = create
  output: o
  priority: WARNING
`)}
	e, err := Compile(Options{}, src)
	if err != nil || e.Stats().Compiled != 0 || e.Stats().OtherSources["syscall"] != 1 {
		t.Fatalf("a rule without source is a syscall rule, as in Falco: %v %+v", err, e.Stats())
	}
	e, err = Compile(Options{DefaultSource: SourceK8sAudit}, src)
	if err != nil || e.Stats().Enabled != 1 {
		t.Fatalf("DefaultSource k8s_audit: %v %+v", err, e.Stats())
	}
}

func TestAppendAndOverride(t *testing.T) {
	local := `
- list: verbs_a
  items: [delete]
  append: true
- macro: on_pods
  condition: or ka.target.resource = secrets
  override:
    condition: append
- rule: Pod Changed
  condition: and not ka.user.name = bob
  append: true
- rule: Pod Changed
  output: changed (user=%ka.user.name)
  desc: more
  priority: ERROR
  tags: [two]
  override:
    output: replace
    desc: append
    priority: replace
    tags: append
- rule: Disabled One
  enabled: true
  override:
    enabled: replace
`
	e, err := compileYAML(baseRules, local)
	if err != nil {
		t.Fatal(err)
	}
	r := ruleNamed(t, e, "Pod Changed")
	if r.Condition != "changing_pods and not ka.user.name = bob" {
		t.Errorf("condition %q", r.Condition)
	}
	if r.Output != "changed (user=%ka.user.name)" || r.Description != "a pod changed more" || r.Priority != PriorityError {
		t.Errorf("overrides not applied: %+v", r)
	}
	if !slices.Equal(r.Tags, []string{"k8s", "one", "two"}) {
		t.Errorf("tags %v", r.Tags)
	}
	if !ruleNamed(t, e, "Disabled One").Enabled {
		t.Error("enabled override not applied")
	}
	// verbs_a gained delete (through verbs_b); on_pods gained secrets.
	del := loadEvent(t, "webhook-bulwark-deleted")
	del.ObjectRef.Resource = "secrets"
	if got := firedChecks(e, del); !slices.Contains(got, "Pod Changed") {
		t.Errorf("appended list/macro not used: %v", got)
	}
	bob := loadEvent(t, "pod-privileged")
	bob.User.Username = "bob"
	if got := firedChecks(e, bob); slices.Contains(got, "Pod Changed") {
		t.Errorf("appended condition not used: %v", got)
	}
}

func TestReplaceAndRedefine(t *testing.T) {
	local := `
- list: verbs_a
  items: [get]
  override:
    items: replace
- macro: on_pods
  condition: ka.target.resource = secrets
- rule: Pod Changed
  condition: ka.verb = list
  override:
    condition: replace
- rule: Disabled One
  desc: redefined
  condition: ka.verb = watch
  output: watch
  priority: NOTICE
  source: k8s_audit
- rule: Pod Changed
  enabled: false
`
	e, err := compileYAML(baseRules, local)
	if err != nil {
		t.Fatal(err)
	}
	if got := ruleNamed(t, e, "Pod Changed"); got.Condition != "ka.verb = list" || got.Enabled {
		t.Errorf("replace/enabled: %+v", got)
	}
	d := ruleNamed(t, e, "Disabled One")
	if d.Description != "redefined" || !d.Enabled || d.Priority != PriorityNotice {
		t.Errorf("redefinition: %+v", d)
	}
	// A redefined rule keeps its place.
	if names := e.Rules(); names[0].Name != "Pod Changed" || names[1].Name != "Disabled One" {
		t.Errorf("order %v", names)
	}
	var deprecated int
	for _, w := range e.Warnings() {
		if strings.Contains(w.Msg, "deprecated") {
			deprecated++
		}
	}
	if deprecated != 1 {
		t.Errorf("want a deprecation warning for the enabled-only form: %v", e.Warnings())
	}
}

func TestExceptions(t *testing.T) {
	rules := `
- list: trusted_ns
  items: [payments]
- list: more_users
  items: [carol]
- rule: Exec
  desc: exec
  condition: ka.target.subresource = exec
  output: exec by %ka.user.name in %ka.target.namespace
  priority: WARNING
  source: k8s_audit
  exceptions:
    - name: user_ns
      fields: [ka.user.name, ka.target.namespace]
      comps: [=, in]
      values:
        - [bob, [shop, db]]
        - [alice@contoso.com, [trusted_ns]]
    - name: users
      fields: ka.user.name
      values: [dave, more_users]
    - name: agents
      fields: [ka.useragent]
      comps: [startswith]
    - name: uri_param
      fields: ["ka.uri.param[container]", ka.user.name]
      comps: [=, =]
      values:
        - [sidecar, mallory@contoso.com]
`
	e, err := compileYAML(rules)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, ns, ua string
		fire         bool
	}{
		{"alice@contoso.com", "payments", "kubectl", false},
		{"alice@contoso.com", "shop", "kubectl", true},
		{"bob", "shop", "kubectl", false},
		{"bob", "db", "kubectl", false},
		{"bob", "payments", "kubectl", true},
		{"dave", "anywhere", "kubectl", false},
		{"carol", "anywhere", "kubectl", false},
		{"erin", "payments", "kubectl", true},
	}
	for _, tt := range tests {
		ev := loadEvent(t, "exec-started")
		ev.User.Username, ev.ObjectRef.Namespace, ev.UserAgent = tt.user, tt.ns, tt.ua
		if got := len(e.Evaluate(ev)) == 1; got != tt.fire {
			t.Errorf("%s in %s: fired %v, want %v", tt.user, tt.ns, got, tt.fire)
		}
	}
	// Appending values to an exception, and a new exception, in a later file.
	local := `
- rule: Exec
  exceptions:
    - name: agents
      values: [[kubectl/]]
    - name: new_one
      fields: [ka.target.name]
      values: [[api-7c9f8d6b54-k2vzp]]
  override:
    exceptions: append
`
	e, err = compileYAML(rules, local)
	if err != nil {
		t.Fatal(err)
	}
	ev := loadEvent(t, "exec-started")
	if got := e.Evaluate(ev); len(got) != 0 {
		t.Errorf("appended exception values ignored: %v", got)
	}
}

func TestLoadErrors(t *testing.T) {
	rule := func(cond string) string {
		return "- rule: r\n  desc: d\n  condition: " + cond + "\n  output: o\n  priority: WARNING\n  source: k8s_audit\n"
	}
	tests := []struct {
		name  string
		files []string
		want  string
	}{
		{"bad YAML", []string{"- rule: r\n  desc: [unclosed\n"}, "base.yaml:1: invalid YAML: did not find expected ',' or ']'"},
		{"bad YAML indentation", []string{"- list: a\n items: [x]\n"}, "base.yaml:1: invalid YAML: did not find expected '-' indicator"},
		{"not a list", []string{"rule: x\n"}, "base.yaml:1: Rules content is not yaml array of objects"},
		{"item not a mapping", []string{"- just a string\n"}, "base.yaml:1: Unexpected element type. Each element should be a yaml associative array."},
		{"unknown operator", []string{"- list: l\n  items: []\n" + rule("ka.verb equals create")},
			`base.yaml:5: rule "r": condition: unknown operator "equals" after field ka.verb`},
		{"unbalanced parentheses", []string{rule("(ka.verb = create")},
			`base.yaml:3: rule "r": condition: unbalanced parentheses: missing ')' for this '(' at offset 0`},
		{"unbalanced closing", []string{rule("ka.verb = create)")},
			`base.yaml:3: rule "r": condition: unbalanced parentheses: unexpected ')' at offset 16`},
		{"undefined macro", []string{rule("ka.verb = create and not known_things")},
			`base.yaml:3: rule "r": condition: undefined macro 'known_things' used in filter at offset 25: "known_things"`},
		{"undefined list", []string{rule("ka.user.name in missing_users")},
			`base.yaml:3: rule "r": condition: undefined list 'missing_users' used with in`},
		{"bad regex", []string{rule(`ka.uri regex "(unclosed"`)},
			`base.yaml:3: rule "r": condition: invalid regex "(unclosed": missing closing ): ` + "`(unclosed`"},
		{"unknown field", []string{rule("ka.user.nmae = bob")},
			`base.yaml:3: rule "r": condition: unknown field "ka.user.nmae" at offset 0`},
		{"unknown output field", []string{"- rule: r\n  desc: d\n  condition: ka.verb=get\n  output: by %ka.usr.name\n  priority: WARNING\n  source: k8s_audit\n"},
			`base.yaml:4: rule "r": output: unknown field "ka.usr.name"`},
		{"invalid priority", []string{"- rule: r\n  desc: d\n  condition: ka.verb=get\n  output: o\n  priority: severe\n  source: k8s_audit\n"},
			`base.yaml:5: rule "r": Invalid priority "severe"`},
		{"missing output", []string{"- rule: r\n  desc: d\n  condition: ka.verb=get\n  priority: INFO\n"},
			`base.yaml:1: rule "r": Item has no mapping for key 'output'`},
		{"empty condition", []string{"- macro: m\n  condition:\n"}, `base.yaml:2: macro "m": Mapping for key 'condition' is empty`},
		{"list items not a sequence", []string{"- list: l\n  items: abc\n"}, `base.yaml:2: list "l": Value of 'items' is not a sequence`},
		{"bad macro name", []string{"- macro: my-macro\n  condition: ka.verb=get\n"}, `base.yaml:1: macro "my-macro": Macro name is invalid`},
		{"bad list name", []string{"- list: \"a b\"\n  items: []\n"}, `base.yaml:1: list "a b": List name is invalid`},
		{"macro syntax error even unused", []string{"- macro: m\n  condition: >\n    ka.verb in (a, b\n"},
			`base.yaml:3: macro "m": condition: unbalanced parentheses: missing ')' closing this list at offset 11`},
		{"error inside a macro names the macro", []string{"- macro: m\n  condition: ka.nope = 1\n" + rule("m")},
			`base.yaml:2: macro "m": condition: unknown field "ka.nope"`},
		{"macro cycle", []string{"- macro: a\n  condition: b\n- macro: b\n  condition: a\n" + rule("a")},
			"macro cycle: a -> b -> a"},
		{"list cycle", []string{"- list: a\n  items: [b]\n- list: b\n  items: [a]\n" + rule("ka.verb in (a)")}, "list cycle: a -> b -> a"},
		{"literal condition line", []string{"- rule: r\n  desc: d\n  condition: |\n    ka.verb = create\n    and nope.field = 1\n  output: o\n  priority: INFO\n  source: k8s_audit\n"},
			`base.yaml:5: rule "r": condition: unknown field "nope.field"`},
		{"append without base", []string{"- list: l\n  items: [x]\n  append: true\n"},
			`base.yaml:1: list "l": List has 'append' key or an append override but no list by that name already exists`},
		{"rule append without base", []string{"- rule: r\n  condition: and x\n  append: true\n"},
			`base.yaml:1: rule "r": Rule has 'append' key but no rule by that name already exists`},
		{"override and append", []string{rule("ka.verb=get"), "- rule: r\n  condition: and x\n  append: true\n  override:\n    condition: append\n"},
			`local.yaml:1: rule "r": Keys 'override' and 'append: true' cannot be used together`},
		{"override key not defined", []string{rule("ka.verb=get"), "- rule: r\n  condition: and x\n  override:\n    condition: append\n    output: replace\n"},
			`local.yaml:1: rule "r": An replace override for 'output' was specified but 'output' is not defined`},
		{"key without override entry", []string{rule("ka.verb=get"), "- rule: r\n  condition: and x\n  desc: y\n  override:\n    condition: append\n"},
			`local.yaml:3: rule "r": Unexpected key 'desc': no corresponding entry under 'override' is defined.`},
		{"priority cannot be appended", []string{rule("ka.verb=get"), "- rule: r\n  priority: INFO\n  override:\n    priority: append\n"},
			`local.yaml:4: rule "r": Key 'priority' cannot be appended to, use 'replace' instead`},
		{"bad override operation", []string{rule("ka.verb=get"), "- rule: r\n  output: x\n  override:\n    output: merge\n"},
			`local.yaml:4: rule "r": Invalid override operation for key 'output': 'merge'`},
		{"enabled without base", []string{"- rule: r\n  enabled: false\n"},
			`base.yaml:1: rule "r": Rule has 'enabled' key but no rule by that name already exists`},
		{"enabled not a bool", []string{"- rule: r\n  desc: d\n  condition: ka.verb=get\n  output: o\n  priority: INFO\n  enabled: maybe\n"},
			`base.yaml:6: rule "r": Value of 'enabled' is not a boolean: "maybe"`},
		{"exception lengths", []string{"- rule: r\n  desc: d\n  condition: ka.verb=get\n  output: o\n  priority: INFO\n  source: k8s_audit\n  exceptions:\n    - name: e\n      fields: [ka.user.name, ka.verb]\n      comps: [=]\n      values: [[a, b]]\n"},
			`base.yaml:8: rule "r": Rule exception item e: fields and comps lists must have equal length`},
		{"exception value length", []string{"- rule: r\n  desc: d\n  condition: ka.verb=get\n  output: o\n  priority: INFO\n  source: k8s_audit\n  exceptions:\n    - name: e\n      fields: [ka.user.name, ka.verb]\n      values: [[a]]\n"},
			`base.yaml:8: rule "r": Rule exception item e: value ["a"] at line 10: fields and values lists must have equal length`},
		{"exception bad comp", []string{"- rule: r\n  desc: d\n  condition: ka.verb=get\n  output: o\n  priority: INFO\n  source: k8s_audit\n  exceptions:\n    - name: e\n      fields: [ka.user.name]\n      comps: [like]\n      values: [[a]]\n"},
			`Rule exception item e: comparison operator "like" is not a supported comparison operator`},
		{"exception unknown field", []string{"- rule: r\n  desc: d\n  condition: ka.verb=get\n  output: o\n  priority: INFO\n  source: k8s_audit\n  exceptions:\n    - name: e\n      fields: [ka.nope]\n      values: [[a]]\n"},
			`base.yaml:8: rule "r": Rule exception item e: unknown field "ka.nope"`},
		{"exception without fields", []string{"- rule: r\n  desc: d\n  condition: ka.verb=get\n  output: o\n  priority: INFO\n  exceptions:\n    - name: e\n      values: [[a]]\n"},
			`base.yaml:7: rule "r": Rule exception item e: must have fields property with a list of fields`},
		{"duplicate exception", []string{"- rule: r\n  desc: d\n  condition: ka.verb=get\n  output: o\n  priority: INFO\n  exceptions:\n    - name: e\n      fields: [ka.verb]\n    - name: e\n      fields: [ka.verb]\n"},
			`base.yaml:9: rule "r": Exceptions names in the same object must be unique: "e"`},
		{"bad engine version", []string{"- required_engine_version: latest\n"}, "base.yaml:1: required_engine_version: Unable to parse engine version 'latest'"},
		{"plugin versions not a sequence", []string{"- required_plugin_versions: k8saudit\n"}, "base.yaml:1: required_plugin_versions: Value of required_plugin_versions must be a sequence"},
		{"plugin version without version", []string{"- required_plugin_versions:\n  - name: k8saudit\n"}, "base.yaml:2: required_plugin_versions: Item has no mapping for key 'version'"},
		{"duplicate key", []string{"- rule: r\n  rule: s\n"}, "base.yaml:2: Key 'rule' appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileYAML(tt.files...)
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n  %v\nwant it to contain:\n  %s", err, tt.want)
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Errorf("error is not a *LoadError: %T", err)
			} else if le.File == "" || le.Line == 0 {
				t.Errorf("error does not name file and line: %+v", le)
			}
		})
	}
}

func TestSkipIfUnknownFilter(t *testing.T) {
	e, err := compileYAML(`
- rule: future
  desc: d
  condition: ka.some.future_field = x
  output: o
  priority: INFO
  source: k8s_audit
  skip-if-unknown-filter: true
- rule: present
  desc: d
  condition: ka.verb = get
  output: o
  priority: INFO
  source: k8s_audit
`)
	if err != nil {
		t.Fatal(err)
	}
	if st := e.Stats(); st.SkippedUnknownFilter != 1 || st.Enabled != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestMultipleDocuments(t *testing.T) {
	e, err := compileYAML("- list: a\n  items: [get]\n---\n- rule: r\n  desc: d\n  condition: ka.verb in (a)\n  output: o\n  priority: INFO\n  source: k8s_audit\n---\n")
	if err != nil {
		t.Fatal(err)
	}
	if e.Stats().Enabled != 1 {
		t.Errorf("stats %+v", e.Stats())
	}
}

func TestErrorsAreCollected(t *testing.T) {
	_, err := compileYAML(`
- rule: a
  desc: d
  condition: ka.nope = 1
  output: o
  priority: INFO
  source: k8s_audit
- rule: b
  desc: d
  condition: ka.verb in (
  output: o
  priority: INFO
  source: k8s_audit
`)
	if err == nil {
		t.Fatal("loaded")
	}
	msg := err.Error()
	if !strings.Contains(msg, `base.yaml:4: rule "a"`) || !strings.Contains(msg, `base.yaml:10: rule "b"`) {
		t.Errorf("want both rule errors, got:\n%v", msg)
	}
}

func TestLoadRulesFiles(t *testing.T) {
	if _, err := LoadRules("testdata/does-not-exist.yaml"); err == nil || err.Error() != "rules file testdata/does-not-exist.yaml: no such file or directory" {
		t.Errorf("missing file: %v", err)
	}
	e, err := LoadRules("testdata/compat/k8s_audit_style_rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if e.Stats().Files != 1 {
		t.Errorf("stats %+v", e.Stats())
	}
}

func TestYAMLBooleans(t *testing.T) {
	for _, v := range []string{"yes", "On", "TRUE", "y"} {
		e, err := compileYAML("- rule: r\n  desc: d\n  condition: ka.verb=get\n  output: o\n  priority: INFO\n  source: k8s_audit\n  enabled: " + v + "\n")
		if err != nil || !e.Rules()[0].Enabled {
			t.Errorf("enabled: %s: %v", v, err)
		}
	}
	e, err := compileYAML("- rule: r\n  desc: d\n  condition: ka.verb=get\n  output: o\n  priority: INFO\n  source: k8s_audit\n  enabled: off\n")
	if err != nil || e.Rules()[0].Enabled {
		t.Errorf("enabled: off: %v", err)
	}
}
