package detect

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/controls"
)

// officeOpts allows the office range and the cluster's networks, so the
// events from 198.51.100.0/24 and 192.0.2.0/24 are outsiders.
var officeOpts = Options{AllowedSourceCIDRs: []string{"203.0.113.0/24", "10.0.0.0/8"}}

func loadDefaults(t *testing.T, opts Options, files ...string) *Engine {
	t.Helper()
	e, err := LoadDefaultRules(opts, files...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestDefaultRulesMatrix pins what every testdata event raises.
func TestDefaultRulesMatrix(t *testing.T) {
	want := map[string][]string{
		"anonymous-allowed":                {"010", "011", "012"},
		"anonymous-denied":                 {"012"},
		"anonymous-readyz":                 nil,
		"attach":                           {"002"},
		"clusterrole-wildcard":             {"009"},
		"clusterrolebinding-cluster-admin": {"008"},
		"configmap-create-credentials":     nil,
		"configmap-get":                    nil,
		"dashboard-deployment":             {"014"},
		"deployment-benign":                nil,
		"deployment-privileged-init":       {"005"},
		"ephemeral-container":              {"004"},
		"exec-complete":                    nil,
		"exec-denied":                      {"001", "012"},
		"exec-started":                     {"001"},
		"exec-websocket":                   {"001"},
		"lease-update":                     nil,
		"namespace-create":                 {"012"},
		"pod-benign":                       nil,
		"pod-capabilities":                 nil,
		"pod-daemonset-controller":         nil,
		"pod-hostnetwork":                  {"007", "012"},
		"pod-hostpath":                     {"006", "012"},
		"pod-kube-system":                  {"012", "015"},
		"pod-list":                         nil,
		"pod-list-via-proxy":               {"012"},
		"pod-privileged":                   {"005"},
		"pod-watch":                        nil,
		"portforward":                      {"003"},
		"role-pods-exec":                   {"009"},
		"role-read-only":                   nil,
		"rolebinding-view":                 nil,
		"secret-get":                       {"011"},
		"secret-get-controller":            nil,
		"secret-get-impersonated":          {"011"},
		"secret-list-all":                  {"011", "012"},
		"secret-list-kubelet":              nil,
		"service-clusterip":                nil,
		"service-loadbalancer-internal":    nil,
		"service-loadbalancer-public":      {"013"},
		"service-nodeport":                 {"013"},
		"webhook-bulwark-cert-rotation":    nil,
		"webhook-bulwark-deleted":          {"012", "016"},
		"webhook-bulwark-patched":          {"012", "016"},
	}
	e := loadDefaults(t, officeOpts)
	names := eventNames(t)
	if len(names) != len(want) {
		t.Errorf("%d testdata events, %d expectations", len(names), len(want))
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			exp, ok := want[name]
			if !ok {
				t.Fatalf("no expectation for %s", name)
			}
			var got []string
			for _, id := range firedChecks(e, loadEvent(t, name)) {
				got = append(got, strings.TrimPrefix(id, "BW-DET-"))
			}
			if !slices.Equal(got, exp) {
				t.Errorf("fired %v, want %v", got, exp)
			}
		})
	}
}

// TestEachDefaultRule: every rule fires on its bad events and stays quiet
// on the benign ones closest to them.
func TestEachDefaultRule(t *testing.T) {
	tests := []struct {
		id          string
		bad, benign []string
	}{
		{"BW-DET-001", []string{"exec-started", "exec-websocket", "exec-denied"}, []string{"exec-complete", "attach", "portforward"}},
		{"BW-DET-002", []string{"attach"}, []string{"exec-started", "portforward"}},
		{"BW-DET-003", []string{"portforward"}, []string{"exec-started", "attach"}},
		{"BW-DET-004", []string{"ephemeral-container"}, []string{"exec-started", "pod-privileged"}},
		{"BW-DET-005", []string{"pod-privileged", "deployment-privileged-init"}, []string{"pod-benign", "pod-daemonset-controller", "deployment-benign", "pod-capabilities"}},
		{"BW-DET-006", []string{"pod-hostpath"}, []string{"pod-benign", "pod-daemonset-controller", "pod-capabilities"}},
		{"BW-DET-007", []string{"pod-hostnetwork"}, []string{"pod-benign", "pod-daemonset-controller"}},
		{"BW-DET-008", []string{"clusterrolebinding-cluster-admin"}, []string{"rolebinding-view"}},
		{"BW-DET-009", []string{"clusterrole-wildcard", "role-pods-exec"}, []string{"role-read-only"}},
		{"BW-DET-010", []string{"anonymous-allowed"}, []string{"anonymous-denied", "anonymous-readyz", "secret-get"}},
		{"BW-DET-011", []string{"secret-get", "secret-list-all", "secret-get-impersonated"}, []string{"secret-get-controller", "secret-list-kubelet", "configmap-get"}},
		{"BW-DET-012", []string{"namespace-create", "pod-list-via-proxy", "exec-denied"}, []string{"pod-list", "lease-update", "exec-started"}},
		{"BW-DET-013", []string{"service-loadbalancer-public", "service-nodeport"}, []string{"service-loadbalancer-internal", "service-clusterip"}},
		{"BW-DET-014", []string{"dashboard-deployment"}, []string{"deployment-benign"}},
		{"BW-DET-015", []string{"pod-kube-system"}, []string{"pod-daemonset-controller", "configmap-get", "pod-privileged"}},
		{"BW-DET-016", []string{"webhook-bulwark-patched", "webhook-bulwark-deleted"}, []string{"webhook-bulwark-cert-rotation"}},
	}
	e := loadDefaults(t, officeOpts)
	ruleIDs := map[string]bool{}
	for _, r := range e.Rules() {
		ruleIDs[checkID(r.Tags)] = true
	}
	for _, tt := range tests {
		delete(ruleIDs, tt.id)
		t.Run(tt.id, func(t *testing.T) {
			for _, name := range tt.bad {
				if !slices.Contains(firedChecks(e, loadEvent(t, name)), tt.id) {
					t.Errorf("silent on bad event %s", name)
				}
			}
			for _, name := range tt.benign {
				if slices.Contains(firedChecks(e, loadEvent(t, name)), tt.id) {
					t.Errorf("fired on benign event %s", name)
				}
			}
		})
	}
	if len(ruleIDs) > 0 {
		t.Errorf("rules without a test: %v", ruleIDs)
	}
}

func TestDefaultRuleVariants(t *testing.T) {
	e := loadDefaults(t, officeOpts)
	tests := []struct {
		name   string
		event  string
		mutate func(ev *eventPatch)
		id     string
		fire   bool
	}{
		{"deletecollection of webhooks", "webhook-bulwark-deleted", func(p *eventPatch) {
			p.ev.Verb, p.ev.ObjectRef.Name = "deletecollection", ""
		}, "BW-DET-016", true},
		{"another webhook", "webhook-bulwark-deleted", func(p *eventPatch) { p.ev.ObjectRef.Name = "gatekeeper-validating" }, "BW-DET-016", false},
		{"webhook patched by someone else", "webhook-bulwark-patched", func(*eventPatch) {}, "BW-DET-016", true},
		{"anonymous by group", "anonymous-allowed", func(p *eventPatch) { p.ev.User.Username = "someone" }, "BW-DET-010", true},
		{"anonymous version endpoint", "anonymous-readyz", func(p *eventPatch) { p.ev.RequestURI = "/version" }, "BW-DET-010", false},
		{"anonymous openid discovery", "anonymous-readyz", func(p *eventPatch) { p.ev.RequestURI = "/.well-known/openid-configuration" }, "BW-DET-010", false},
		{"anonymous metrics", "anonymous-readyz", func(p *eventPatch) { p.ev.RequestURI = "/metrics" }, "BW-DET-010", true},
		{"exec refused at RequestReceived", "exec-started", func(p *eventPatch) { p.ev.Stage = "RequestReceived" }, "BW-DET-001", false},
		{"secret watch", "secret-get", func(p *eventPatch) { p.ev.Verb = "watch" }, "BW-DET-011", true},
		{"secret read refused", "secret-get", func(p *eventPatch) { p.ev.ResponseStatus.Code = 403 }, "BW-DET-011", false},
		{"secret delete", "secret-get", func(p *eventPatch) { p.ev.Verb = "delete" }, "BW-DET-011", false},
		{"kube-system pod by a system user", "pod-kube-system", func(p *eventPatch) { p.ev.User.Username = "system:serviceaccount:kube-system:addon-manager" }, "BW-DET-015", false},
		{"rbac reconciled by the API server", "clusterrole-wildcard", func(p *eventPatch) { p.ev.User.Username = "system:apiserver" }, "BW-DET-009", false},
		{"IPv6 client outside the ranges", "pod-list", func(p *eventPatch) { p.ev.SourceIPs = []string{"2001:db8::1"} }, "BW-DET-012", true},
		{"IPv4-mapped IPv6 client inside", "pod-list", func(p *eventPatch) { p.ev.SourceIPs = []string{"::ffff:10.1.2.3"} }, "BW-DET-012", false},
		{"garbage source IP", "pod-list", func(p *eventPatch) { p.ev.SourceIPs = []string{"not-an-ip"} }, "BW-DET-012", true},
		{"no source IP", "pod-list", func(p *eventPatch) { p.ev.SourceIPs = nil }, "BW-DET-012", false},
		{"loopback", "pod-list", func(p *eventPatch) { p.ev.SourceIPs = []string{"::1"} }, "BW-DET-012", false},
		{"forwarded for an outsider", "pod-list", func(p *eventPatch) { p.ev.SourceIPs = []string{"198.51.100.9", "127.0.0.1"} }, "BW-DET-012", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &eventPatch{ev: loadEvent(t, tt.event)}
			tt.mutate(p)
			if got := slices.Contains(firedChecks(e, p.ev), tt.id); got != tt.fire {
				t.Errorf("%s fired %v, want %v", tt.id, got, tt.fire)
			}
		})
	}
}

func TestExecAlertContent(t *testing.T) {
	e := loadDefaults(t, Options{})
	alerts := e.Evaluate(loadEvent(t, "exec-started"))
	if len(alerts) != 1 {
		t.Fatalf("alerts %v", alerts)
	}
	a := alerts[0]
	want := "Exec into pod (user=alice@contoso.com impersonated=<NA> groups=(8d2f5a17-1b3e-4c9a-a6f0-5e7d9c2b4a10,system:authenticated) source_ips=(203.0.113.45) pod=api-7c9f8d6b54-k2vzp ns=payments container=api command=sh argv=sh -c cat /etc/shadow tty=true verb=create resp=101 decision=allow user_agent=kubectl/v1.30.2 (linux/amd64) kubernetes/39683505)"
	if a.Output != want {
		t.Errorf("output\n  %s\nwant\n  %s", a.Output, want)
	}
	if a.Rule != "BW-DET-001 Exec into a pod" || a.Priority != PriorityWarning || a.Source != "k8s_audit" || a.Check != "BW-DET-001" ||
		!slices.Equal(a.Requirements, []string{"REQ-05a"}) || a.AuditID != "616a53b3-7c42-5f0c-8f17-209d2f0225db" ||
		a.Time.Format("15:04:05.000000") != "14:02:11.527410" || !slices.Contains(a.Tags, "mitre_execution") {
		t.Errorf("alert %+v", a)
	}
	for field, v := range map[string]string{
		"ka.user.name": "alice@contoso.com", "ka.uri.param[command]": "sh", "bw.exec.command": "sh -c cat /etc/shadow",
		"ka.sourceips": "(203.0.113.45)", "ka.impuser.name": "<NA>", "ka.target.namespace": "payments",
	} {
		if a.Fields[field] != v {
			t.Errorf("field %s = %q, want %q", field, a.Fields[field], v)
		}
	}
	if a.Severity() != controls.Medium {
		t.Errorf("severity %v", a.Severity())
	}
	b, err := json.Marshal(a)
	if err != nil || !strings.Contains(string(b), `"priority":"Warning"`) || !strings.Contains(string(b), `"output_fields":{`) {
		t.Errorf("json %s %v", b, err)
	}
}

func TestSourceRangesNeedConfiguration(t *testing.T) {
	e := loadDefaults(t, Options{})
	for _, r := range e.Rules() {
		if checkID(r.Tags) == "BW-DET-012" && r.Enabled {
			t.Error("BW-DET-012 is enabled without allowed ranges")
		}
	}
	if got := firedChecks(e, loadEvent(t, "namespace-create")); len(got) != 0 {
		t.Errorf("fired %v", got)
	}
	// A user file may enable it after appending ranges itself.
	local := writeTemp(t, `
- list: bulwark_allowed_source_cidrs
  items: [203.0.113.0/24]
  override:
    items: append
- rule: BW-DET-012 API request from outside the allowed source ranges
  enabled: true
  override:
    enabled: replace
`)
	e = loadDefaults(t, Options{}, local)
	if got := firedChecks(e, loadEvent(t, "namespace-create")); !slices.Equal(got, []string{"BW-DET-012"}) {
		t.Errorf("fired %v", got)
	}
	if got := firedChecks(e, loadEvent(t, "pod-list")); len(got) != 0 {
		t.Errorf("office request fired %v", got)
	}
}

func TestOptions(t *testing.T) {
	e := loadDefaults(t, Options{SecretReaders: []string{"alice@contoso.com"}})
	if got := firedChecks(e, loadEvent(t, "secret-get")); len(got) != 0 {
		t.Errorf("allowed secret reader alerted: %v", got)
	}
	if got := firedChecks(e, loadEvent(t, "secret-list-all")); !slices.Equal(got, []string{"BW-DET-011"}) {
		t.Errorf("other reader: %v", got)
	}

	e = loadDefaults(t, Options{ExemptUsers: []string{"mallory@contoso.com"}, AllowedSourceCIDRs: []string{"203.0.113.0/24"}})
	for _, name := range []string{"pod-hostpath", "pod-hostnetwork", "pod-kube-system", "secret-list-all", "exec-denied"} {
		if got := firedChecks(e, loadEvent(t, name)); len(got) != 0 {
			t.Errorf("%s: exempt user alerted: %v", name, got)
		}
	}
	if got := firedChecks(e, loadEvent(t, "webhook-bulwark-deleted")); !slices.Equal(got, []string{"BW-DET-016"}) {
		t.Errorf("webhook tampering by an exempt user: %v", got)
	}

	_, err := LoadDefaultRules(Options{AllowedSourceCIDRs: []string{"10.0.0.0/40"}})
	if err == nil || err.Error() != `option allowedSourceCIDRs: "10.0.0.0/40" is not a CIDR range` {
		t.Errorf("bad CIDR: %v", err)
	}
	_, err = LoadRules("testdata/compat/k8s_audit_style_rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compile(Options{SecretReaders: []string{"x"}}, Source{Name: "x.yaml", Data: []byte("- list: a\n  items: []\n")})
	if err == nil || !strings.Contains(err.Error(), "option secretReaders needs the list bulwark_secret_readers") {
		t.Errorf("option without its list: %v", err)
	}
}

func TestUserFileTunesDefaults(t *testing.T) {
	local := writeTemp(t, `
- rule: BW-DET-001 Exec into a pod
  exceptions:
    - name: known_exec_users
      values:
        - [alice@contoso.com, payments]
  override:
    exceptions: append
- list: bulwark_webhook_managers
  items: [mallory@contoso.com]
  override:
    items: append
`)
	e := loadDefaults(t, Options{}, local)
	if got := firedChecks(e, loadEvent(t, "exec-started")); len(got) != 0 {
		t.Errorf("exception ignored: %v", got)
	}
	if got := firedChecks(e, loadEvent(t, "exec-denied")); !slices.Equal(got, []string{"BW-DET-001"}) {
		t.Errorf("other user: %v", got)
	}
	if got := firedChecks(e, loadEvent(t, "webhook-bulwark-deleted")); len(got) != 0 {
		t.Errorf("webhook manager alerted: %v", got)
	}
}

func TestDefaultRulesLoadBesideUpstreamStyleRules(t *testing.T) {
	// Bulwark's items are all prefixed, so loading a Falco-style file next
	// to them redefines nothing.
	e := loadDefaults(t, Options{}, "testdata/compat/k8s_audit_style_rules.yaml")
	got := firedChecks(e, loadEvent(t, "pod-privileged"))
	if !slices.Equal(got, []string{"BW-DET-005", "Privileged Pod Started"}) {
		t.Errorf("fired %v", got)
	}
}

func TestChecks(t *testing.T) {
	checks := Checks()
	if len(checks) != 16 {
		t.Fatalf("%d checks", len(checks))
	}
	cat, err := controls.NewCatalog(checks...)
	if err != nil {
		t.Fatal(err)
	}
	e := loadDefaults(t, officeOpts)
	byID := map[string]Rule{}
	for _, r := range e.Rules() {
		byID[checkID(r.Tags)] = r
	}
	for i, c := range checks {
		if want := "BW-DET-0" + twoDigits(i+1); c.ID != want {
			t.Errorf("check %d is %s, want %s", i, c.ID, want)
		}
		r, ok := byID[c.ID]
		if !ok {
			t.Errorf("%s has no rule", c.ID)
			continue
		}
		if !strings.HasPrefix(r.Name, c.ID+" ") || strings.TrimPrefix(r.Name, c.ID+" ") != c.Title {
			t.Errorf("%s: rule %q, title %q", c.ID, r.Name, c.Title)
		}
		if c.Severity != r.Priority.Severity() || c.Engine != controls.EngineDetect || c.Remediation == "" {
			t.Errorf("%s: %+v", c.ID, c)
		}
		if !slices.Equal(c.Requirements, requirementIDs(r.Tags)) || len(c.Requirements) == 0 {
			t.Errorf("%s: requirements %v, tags %v", c.ID, c.Requirements, r.Tags)
		}
	}
	for _, req := range []string{"REQ-05a", "REQ-05b", "REQ-02", "PRAC-THREAT", "PRAC-DASH", "REQ-13", "REQ-04"} {
		if len(cat.ForRequirement(req)) == 0 {
			t.Errorf("no detect check for %s", req)
		}
	}
	if got := len(cat.ForRequirement("REQ-05a")); got != 4 {
		t.Errorf("REQ-05a has %d checks", got)
	}
	if c, _ := cat.Lookup("BW-DET-005"); c.Anchor != `Falco k8saudit rule "Create Privileged Pod"` || c.Severity != controls.High {
		t.Errorf("BW-DET-005 = %+v", c)
	}
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + string(rune('0'+n))
	}
	return string(rune('0'+n/10)) + string(rune('0'+n%10))
}

func TestPriorities(t *testing.T) {
	for in, want := range map[string]Priority{
		"EMERGENCY": PriorityEmergency, "alert": PriorityAlert, "Critical": PriorityCritical, "error": PriorityError,
		"WARNING": PriorityWarning, "notice": PriorityNotice, "INFORMATIONAL": PriorityInformational, "info": PriorityInformational,
		"Debug": PriorityDebug,
	} {
		got, err := ParsePriority(in)
		if err != nil || got != want {
			t.Errorf("ParsePriority(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParsePriority("severe"); err == nil {
		t.Error("severe parsed")
	}
	sev := map[Priority]controls.Severity{
		PriorityEmergency: controls.Critical, PriorityAlert: controls.Critical, PriorityCritical: controls.Critical,
		PriorityError: controls.High, PriorityWarning: controls.Medium, PriorityNotice: controls.Low,
		PriorityInformational: controls.Info, PriorityDebug: controls.Info,
	}
	for p, want := range sev {
		if p.Severity() != want {
			t.Errorf("%v.Severity() = %v", p, p.Severity())
		}
	}
	var p Priority
	if err := p.UnmarshalText([]byte("notice")); err != nil || p != PriorityNotice || p.String() != "Notice" {
		t.Errorf("UnmarshalText: %v %v", p, err)
	}
}
