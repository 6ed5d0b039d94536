package detect

import (
	"slices"
	"testing"
)

// TestFalcoStyleRules loads a rules file written the way Falco's k8saudit
// rules are (lists of lists, macros of macros, jevt.* fields, intersects on
// list fields, exceptions, rules for other sources) and checks what fires.
func TestFalcoStyleRules(t *testing.T) {
	e, err := LoadRules("testdata/compat/k8s_audit_style_rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := e.Stats()
	if st.Rules != 8 || st.Compiled != 6 || st.Enabled != 5 || st.OtherSources["syscall"] != 1 || st.OtherSources["aws_cloudtrail"] != 1 {
		t.Errorf("stats %+v", st)
	}
	want := map[string][]string{
		"pod-privileged":                   {"Privileged Pod Started"},
		"pod-daemonset-controller":         nil, // trusted image through nested lists
		"exec-started":                     {"Shell Into Pod"},
		"exec-websocket":                   {"Shell Into Pod"},
		"attach":                           {"Shell Into Pod"},
		"exec-complete":                    nil,
		"pod-hostpath":                     {"Sensitive Mount"},
		"clusterrolebinding-cluster-admin": {"Cluster Admin Binding"},
		"anonymous-allowed":                {"Anonymous Allowed"},
		"anonymous-readyz":                 nil,
		"secret-get":                       nil, // Secret Read is disabled
		"pod-benign":                       nil,
	}
	for name, exp := range want {
		if got := firedChecks(e, loadEvent(t, name)); !slices.Equal(got, exp) {
			t.Errorf("%s: fired %v, want %v", name, got, exp)
		}
	}
	// Exceptions: the tuple form and the single-field form.
	ev := loadEvent(t, "exec-started")
	ev.User.Username, ev.ObjectRef.Namespace = "oncall@contoso.com", "payments"
	if got := firedChecks(e, ev); len(got) != 0 {
		t.Errorf("user_in_namespace exception ignored: %v", got)
	}
	ev = loadEvent(t, "exec-started")
	ev.User.Groups = append(ev.User.Groups, "platform-admins")
	if got := firedChecks(e, ev); len(got) != 0 {
		t.Errorf("trusted_groups exception ignored: %v", got)
	}
	// Exception values naming a list.
	ev = loadEvent(t, "pod-daemonset-controller")
	ev.User.Username = "alice@contoso.com"
	ev.ObjectRef.Namespace = "kube-system"
	if got := firedChecks(e, ev); slices.Contains(got, "Sensitive Mount") {
		t.Errorf("image_in_namespace exception ignored: %v", got)
	}
	alerts := e.Evaluate(loadEvent(t, "pod-hostpath"))
	if len(alerts) != 1 || alerts[0].Fields["jevt.value[/requestObject/spec/volumes]"] != `[{"name":"docker","hostPath":{"path":"/var/run/docker.sock","type":"Socket"}},{"name":"pki","hostPath":{"path":"/etc/kubernetes/pki","type":"Directory"}}]` {
		t.Errorf("alerts %+v", alerts)
	}
}

// TestFalcoStyleLocalOverrides loads a second file that changes the first
// with append: true and override sections, as a falco_rules.local.yaml.
func TestFalcoStyleLocalOverrides(t *testing.T) {
	e, err := LoadRules("testdata/compat/k8s_audit_style_rules.yaml", "testdata/compat/local_overrides.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if st := e.Stats(); st.Enabled != 6 || st.Files != 2 {
		t.Errorf("stats %+v", st)
	}
	tests := []struct {
		event string
		edit  func(p *eventPatch)
		want  []string
	}{
		// alpine is still not a trusted privileged image.
		{"pod-privileged", func(p *eventPatch) {}, []string{"Privileged Pod Started"}},
		// known_exec_activity gained ci-bot (macro condition append).
		{"exec-started", func(p *eventPatch) { p.ev.User.Username = "ci-bot" }, nil},
		// user_in_namespace gained alice@contoso.com in db (exceptions append).
		{"exec-started", func(p *eventPatch) { p.ev.ObjectRef.Namespace = "db" }, nil},
		{"exec-started", func(p *eventPatch) {}, []string{"Shell Into Pod"}},
		// Cluster Admin Binding: condition append excludes kubernetes-admin.
		{"clusterrolebinding-cluster-admin", func(p *eventPatch) {}, nil},
		{"clusterrolebinding-cluster-admin", func(p *eventPatch) { p.ev.User.Username = "mallory@contoso.com" }, []string{"Cluster Admin Binding"}},
		// Anonymous Allowed: deprecated append requires a 2xx response.
		{"anonymous-allowed", func(p *eventPatch) {}, []string{"Anonymous Allowed"}},
		{"anonymous-allowed", func(p *eventPatch) { p.ev.ResponseStatus.Code = 404 }, nil},
		// Secret Read was enabled by an override.
		{"secret-get", func(p *eventPatch) {}, []string{"Secret Read"}},
	}
	for i, tt := range tests {
		p := &eventPatch{ev: loadEvent(t, tt.event)}
		tt.edit(p)
		if got := firedChecks(e, p.ev); !slices.Equal(got, tt.want) {
			t.Errorf("case %d (%s): fired %v, want %v", i, tt.event, got, tt.want)
		}
	}
	r := ruleNamed(t, e, "Cluster Admin Binding")
	if r.Priority != PriorityCritical || r.Output != "cluster-admin granted by %ka.user.name (subjects=%ka.req.binding.subjects.user_names)" {
		t.Errorf("replaced output/priority: %+v", r)
	}
	if got := ruleNamed(t, e, "Privileged Pod Started").Tags; !slices.Equal(got, []string{"k8s", "privileged", "mitre_privilege_escalation"}) {
		t.Errorf("tags %v", got)
	}
	ev := loadEvent(t, "clusterrolebinding-cluster-admin")
	ev.User.Username = "mallory@contoso.com"
	alerts := e.Evaluate(ev)
	if len(alerts) != 1 || alerts[0].Output != "cluster-admin granted by mallory@contoso.com (subjects=(mallory@contoso.com))" {
		t.Errorf("alerts %+v", alerts)
	}
}
