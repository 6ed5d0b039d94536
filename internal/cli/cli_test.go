package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -update to create it, then review it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// The user-policy scan is independent of the built-in library, so its
// reports are stable golden files.
func TestScanUserPoliciesGolden(t *testing.T) {
	for _, format := range []string{"table", "json", "sarif", "junit"} {
		t.Run(format, func(t *testing.T) {
			code, out, errs := run(t, "", "scan", "testdata/manifests", "--policy", "testdata/policies", "--no-library", "-o", format)
			if code != ExitFindings {
				t.Fatalf("exit %d, want 1; stderr: %s", code, errs)
			}
			golden(t, "user-policies."+format, out)
		})
	}
}

func TestScanJSONContract(t *testing.T) {
	code, out, _ := run(t, "", "scan", "testdata/manifests", "--policy", "testdata/policies", "--no-library", "-o", "json")
	if code != ExitFindings {
		t.Fatalf("exit %d", code)
	}
	var doc struct {
		Summary struct {
			Requirements []map[string]any `json:"requirements"`
		} `json:"summary"`
		Findings []map[string]any `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"id", "title", "status", "failed", "passed"} {
		if _, ok := doc.Summary.Requirements[0][key]; !ok {
			t.Errorf("summary requirement lacks %q", key)
		}
	}
	if len(doc.Findings) != 2 {
		t.Fatalf("%d findings, want 2 (Deployment web via its pod template, Namespace shop)", len(doc.Findings))
	}
	for _, key := range []string{"check", "requirements", "severity", "title", "message", "remediation", "engine", "enforcementAction", "object", "file", "line"} {
		if _, ok := doc.Findings[0][key]; !ok {
			t.Errorf("finding lacks %q", key)
		}
	}
	obj, _ := doc.Findings[0]["object"].(map[string]any)
	for _, key := range []string{"apiVersion", "kind", "namespace", "name"} {
		if _, ok := obj[key]; !ok {
			t.Errorf("finding object lacks %q", key)
		}
	}
}

func TestScanSARIF(t *testing.T) {
	_, out, _ := run(t, "", "scan", "testdata/manifests", "--policy", "testdata/policies", "--no-library", "-o", "sarif")
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Rules []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("version %q, %d runs", log.Version, len(log.Runs))
	}
	run0 := log.Runs[0]
	for _, r := range run0.Results {
		if run0.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("ruleIndex %d does not point at %s", r.RuleIndex, r.RuleID)
		}
		loc := r.Locations[0].PhysicalLocation
		if loc.ArtifactLocation.URI != "testdata/manifests/app.yaml" || loc.Region.StartLine < 1 {
			t.Errorf("location %+v", loc)
		}
	}
}

func TestScanJUnit(t *testing.T) {
	_, out, _ := run(t, "", "scan", "testdata/manifests", "--policy", "testdata/policies", "--no-library", "-o", "junit")
	var suites struct {
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal([]byte(out), &suites); err != nil {
		t.Fatal(err)
	}
	if suites.Failures != 2 {
		t.Errorf("junit failures = %d, want 2", suites.Failures)
	}
}

func TestScanExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"findings at the threshold", []string{"--fail-on", "high"}, ExitFindings, ""},
		{"findings below the threshold", []string{"--fail-on", "critical"}, ExitOK, ""},
		{"never fail", []string{"--fail-on", "none"}, ExitOK, ""},
		{"bad severity", []string{"--fail-on", "severe"}, ExitUsage, `unknown severity "severe"`},
		{"bad format", []string{"-o", "xml"}, ExitUsage, `unknown output format "xml"`},
		{"unknown flag", []string{"--frobnicate"}, ExitUsage, "unknown flag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"scan", "testdata/manifests", "--policy", "testdata/policies", "--no-library"}, tc.args...)
			code, _, errs := run(t, "", args...)
			if code != tc.code || !strings.Contains(errs, tc.err) {
				t.Errorf("exit %d stderr %q; want %d and %q", code, errs, tc.code, tc.err)
			}
		})
	}
}

func TestScanBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	big := make([]byte, 0, 50<<20)
	for len(big) < 50<<20 {
		big = append(big, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n---\n"...)
	}
	tests := []struct {
		name, file string
		want       string
	}{
		{"malformed yaml", write("bad.yaml", []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [x\n")), "bad.yaml:"},
		{"malformed json", write("bad.json", []byte("{\"apiVersion\": \"v1\",\n\"kind\": }")), "bad.json:2: invalid JSON"},
		{"no kind", write("nokind.yaml", []byte("apiVersion: v1\nmetadata: {name: a}\n")), "nokind.yaml:1: object has no kind"},
		{"unknown kind", write("typo.yaml", []byte("# a typo would escape every check\napiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: a}\n")), `typo.yaml:2: unknown kind "Deploymnet" in the apps API group (did you mean "Deployment"?)`},
		{"binary garbage", write("garbage.bin", []byte{0x7f, 'E', 'L', 'F', 0, 1, 2, 3}), "garbage.bin: not a text manifest"},
		{"50 MB file", write("big.yaml", big), "big.yaml: file is larger than the 32 MiB limit"},
		{"missing file", filepath.Join(dir, "nope.yaml"), "nope.yaml: no such file or directory"},
		{"template that does not compile", write("tpl.yaml", []byte("apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata: {name: broken}\nspec:\n  crd: {spec: {names: {kind: Broken}}}\n  targets:\n  - target: admission.k8s.gatekeeper.sh\n    rego: |\n      package broken\n      violation[{\"msg\": m}] { m := input.review.object.metadata.name +++ }\n")), "tpl.yaml:1: template broken: broken.rego:2"},
		{"constraint parameters off schema", write("con.yaml", []byte("apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sRequiredOwner\nmetadata: {name: c}\nspec: {parameters: {label: [owner]}}\n")), "con.yaml:1: constraint K8sRequiredOwner c: parameters do not match the template's schema: spec.parameters.label"},
		{"constraint without template", write("orphan.yaml", []byte("apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: NoSuchTemplate\nmetadata: {name: c}\n")), "no ConstraintTemplate defines kind NoSuchTemplate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := run(t, "", "scan", tc.file, "--policy", "testdata/policies", "--no-library")
			if code != ExitUsage {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(errs, tc.want) {
				t.Errorf("stderr %q does not contain %q", errs, tc.want)
			}
		})
	}
}

func TestScanStdin(t *testing.T) {
	code, out, errs := run(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: piped, namespace: x}\nspec: {containers: [{name: a, image: x}]}\n",
		"scan", "-", "--policy", "testdata/policies", "--no-library", "-o", "json")
	if code != ExitFindings || !strings.Contains(out, `"file": "-"`) || !strings.Contains(out, `Pod \"piped\"`) {
		t.Errorf("exit %d, out %s, err %s", code, out, errs)
	}
}

func TestVerifyCommand(t *testing.T) {
	code, out, errs := run(t, "", "verify", "../policy/library/checks/bw-k8s-008-allowed-registries")
	if code != ExitOK || !strings.Contains(out, "passed, 0 failed") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	// A failing case exits 1 and names the case.
	dir := t.TempDir()
	src := "../policy/library/checks/bw-k8s-008-allowed-registries"
	for _, f := range []string{"template.yaml", "constraint.yaml"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(filepath.Join(src, "samples/allowed.yaml"))
	os.WriteFile(filepath.Join(dir, "pod.yaml"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "suite.yaml"), []byte(`apiVersion: test.gatekeeper.sh/v1alpha1
kind: Suite
tests:
- name: wrong-expectation
  template: template.yaml
  constraint: constraint.yaml
  cases:
  - name: allowed-pod-asserted-as-violating
    object: pod.yaml
    assertions:
    - violations: yes
`), 0o644)
	code, out, _ = run(t, "", "verify", dir)
	if code != ExitFindings || !strings.Contains(out, "FAIL: wrong-expectation/allowed-pod-asserted-as-violating") || !strings.Contains(out, "want at least 1") {
		t.Errorf("exit %d\n%s", code, out)
	}
	code, _, errs = run(t, "", "verify", t.TempDir())
	if code != ExitUsage || !strings.Contains(errs, "no test suites") {
		t.Errorf("empty dir: exit %d, %s", code, errs)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "bulwark ") {
		t.Errorf("exit %d out %q", code, out)
	}
}

// TestWorkshop checks the seed's two clusters: the secure one passes every
// check it can be judged on, the insecure one fails every requirement it
// targets, and no secret value from its manifests reaches the report.
func TestWorkshop(t *testing.T) {
	code, out, errs := run(t, "", "scan", "../../examples/workshop/secure", "--config", "../../examples/workshop/bulwark.yaml", "-o", "json")
	if code != ExitOK {
		t.Fatalf("secure: exit %d\n%s\n%s", code, errs, out)
	}
	var doc struct {
		Summary struct {
			Requirements []struct {
				ID, Status string
			} `json:"requirements"`
		} `json:"summary"`
		Findings []struct {
			Check, Message string
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Findings) != 0 {
		t.Errorf("secure example has findings: %+v", doc.Findings)
	}

	for _, format := range []string{"json", "table", "sarif", "junit"} {
		code, out, errs = run(t, "", "scan", "../../examples/workshop/insecure", "--config", "../../examples/workshop/bulwark.yaml", "-o", format)
		if code != ExitFindings {
			t.Fatalf("insecure: exit %d\n%s", code, errs)
		}
		for _, secret := range []string{"Sup3rS3cretValue", "P@ssw0rd123", "bm90LWEtcmVhbC1rZXk"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s report leaks the secret value %q", format, secret)
			}
		}
	}
	if err := json.Unmarshal([]byte(mustRun(t, "scan", "../../examples/workshop/insecure", "--config", "../../examples/workshop/bulwark.yaml", "-o", "json")), &doc); err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, r := range doc.Summary.Requirements {
		status[r.ID] = r.Status
	}
	for _, id := range []string{"REQ-02", "REQ-07", "REQ-08", "REQ-09", "REQ-10", "REQ-11", "REQ-12", "REQ-13", "REQ-15", "PRAC-PSS", "PRAC-PULL", "PRAC-DASH", "PRAC-INGRESS", "PRAC-NETPOL"} {
		if status[id] != "fail" {
			t.Errorf("insecure %s is %q, want fail", id, status[id])
		}
	}
	checks := map[string]bool{}
	for _, f := range doc.Findings {
		checks[f.Check] = true
	}
	// The seed's own validation steps, each caught by its check.
	for _, id := range []string{
		"BW-K8S-008", // centos from Docker Hub in production, the sidecar
		"BW-K8S-001", // cluster-admin for a user
		"BW-K8S-010", // secrets in env
		"BW-K8S-011", // secrets in a ConfigMap
		"BW-K8S-013", // :latest and untagged
		"BW-K8S-016", // public load balancer
		"BW-K8S-028", // no network policies
		"BW-K8S-029", // the dashboard
		"BW-K8S-101", // privileged
	} {
		if !checks[id] {
			t.Errorf("insecure example: no %s finding", id)
		}
	}
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	_, out, _ := run(t, "", args...)
	return out
}

// TestControlsDocUpToDate keeps docs/controls.md equal to what
// `bulwark controls -o markdown` prints (refresh with -update).
func TestControlsDocUpToDate(t *testing.T) {
	code, out, errs := run(t, "", "controls", "-o", "markdown")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	path := filepath.Join("..", "..", "docs", "controls.md")
	if *update {
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != out {
		t.Error("docs/controls.md is stale: run go test ./internal/cli -run TestControlsDocUpToDate -update")
	}
	for _, id := range []string{"BW-K8S-008", "BW-K8S-101", "BW-AKS-", "BW-DET-", "BW-ANL-"} {
		if !strings.Contains(out, id) {
			t.Errorf("catalog lacks %s", id)
		}
	}
}

func TestAuditReplay(t *testing.T) {
	code, out, errs := run(t, "", "audit", "replay", "../../examples/workshop/audit/audit.log")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var checks []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var a replayAlert
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if a.Rule == "" || a.Priority == "" || a.Output == "" || a.AuditID == "" || a.Fields == nil {
			t.Errorf("incomplete alert %+v", a)
		}
		checks = append(checks, a.Check)
	}
	got := strings.Join(checks, ",")
	for _, id := range []string{"BW-DET-001", "BW-DET-002", "BW-DET-003", "BW-DET-004", "BW-DET-005", "BW-DET-008", "BW-DET-010"} {
		if !strings.Contains(got, id) {
			t.Errorf("no %s alert among %s", id, got)
		}
	}

	// A bad line is reported with its position; the rest is still replayed.
	log, err := os.ReadFile("../../examples/workshop/audit/audit.log")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(log), "\n", 3)
	stdin := lines[0] + "\n{not json\n" + lines[1] + "\n" + lines[2]
	code, out2, errs := run(t, stdin, "audit", "replay", "-")
	if code != ExitUsage || !strings.Contains(errs, "-:2:") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
	if strings.Count(out2, "\n") != strings.Count(out, "\n") {
		t.Errorf("a bad line lost alerts: %d lines, want %d", strings.Count(out2, "\n"), strings.Count(out, "\n"))
	}

	// An invalid rules file names its file and line.
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rules, []byte("- rule: broken\n  desc: x\n  condition: ka.verb = create and (\n  output: x\n  priority: WARNING\n  source: k8s_audit\n"), 0o644)
	code, _, errs = run(t, "", "audit", "replay", "--rules", rules, "../../examples/workshop/audit/audit.log")
	if code != ExitUsage || !strings.Contains(errs, "rules.yaml:3: rule \"broken\"") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}
