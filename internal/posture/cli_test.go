package posture_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/cli"
)

const examples = "../../examples/workshop/aks"
const workshopConfig = "../../examples/workshop/bulwark.yaml"

func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), args, cli.Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestPostureCommand(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte("{\n  \"name\": \"aks\",\n  \"location\" \"eastus\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "pod.json")
	if err := os.WriteFile(other, []byte(`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	showJSON, err := os.ReadFile(examples + "/insecure/az/aks-show.json")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stdout string
		stderr string
	}{
		{name: "secure", args: []string{"posture", examples + "/secure/az", "--config", workshopConfig}, code: 0, stdout: "0 findings"},
		{name: "secure arm with parameters", args: []string{"posture", examples + "/secure/arm/azuredeploy.json",
			"--parameters", examples + "/secure/arm/azuredeploy.parameters.json", "--config", workshopConfig}, code: 0, stdout: "0 findings"},
		{name: "insecure", args: []string{"posture", examples + "/insecure/terraform/plan.json", "--config", workshopConfig}, code: 1, stdout: "BW-AKS-007"},
		{name: "fail-on none", args: []string{"posture", examples + "/insecure/arm", "--fail-on", "none"}, code: 0, stdout: "BW-AKS-001"},
		{name: "fail-on critical", args: []string{"posture", examples + "/insecure/arm", "--fail-on", "critical"}, code: 0},
		{name: "stdin", args: []string{"posture", "-", "-o", "sarif"}, stdin: string(showJSON), code: 1, stdout: `"ruleId": "BW-AKS-001"`},
		{name: "junit", args: []string{"posture", examples + "/insecure/az", "-o", "junit"}, code: 1, stdout: "<testsuite"},
		{name: "malformed", args: []string{"posture", bad}, code: 2, stderr: "bad.json:3:"},
		{name: "not a posture input", args: []string{"posture", other}, code: 2, stderr: "pod.json"},
		{name: "missing file", args: []string{"posture", "/nonexistent.json"}, code: 2, stderr: "/nonexistent.json"},
		{name: "no arguments", args: []string{"posture"}, code: 2},
		{name: "bad format", args: []string{"posture", examples + "/secure/az", "-o", "yaml"}, code: 2, stderr: "unknown output format"},
		{name: "bad fail-on", args: []string{"posture", examples + "/secure/az", "--fail-on", "sometimes"}, code: 2, stderr: "--fail-on"},
		{name: "directory without inputs", args: []string{"posture", filepath.Dir(other)}, code: 2, stderr: "no posture input"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout does not contain %q:\n%s", tc.stdout, stdout)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr does not contain %q:\n%s", tc.stderr, stderr)
			}
		})
	}
}

// TestPostureJSONContract checks -o json is the report scan prints:
// {"summary":{"requirements":[...],"objects":n,"findings":n},"findings":[...]}.
func TestPostureJSONContract(t *testing.T) {
	code, stdout, stderr := run(t, "", "posture", examples+"/insecure/az", "--config", workshopConfig, "-o", "json")
	if code != 1 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Summary struct {
			Requirements []struct {
				ID, Status, Reason string
				Failed, Passed     int
			} `json:"requirements"`
			Objects  int `json:"objects"`
			Findings int `json:"findings"`
		} `json:"summary"`
		Findings []struct {
			Check, Engine, File, Message, Remediation string
			Line                                      int
			Requirements                              []string
			Object                                    struct{ Kind, Namespace, Name string }
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Findings != len(rep.Findings) || len(rep.Findings) == 0 || rep.Summary.Objects == 0 {
		t.Fatalf("summary %+v, %d findings", rep.Summary, len(rep.Findings))
	}
	status := map[string]string{}
	for _, r := range rep.Summary.Requirements {
		status[r.ID] = r.Status
	}
	for id, want := range map[string]string{"REQ-01": "fail", "REQ-03": "fail", "REQ-08": "fail", "PRAC-DASH": "pass", "REQ-09": "not assessed"} {
		if status[id] != want {
			t.Errorf("%s is %q, want %q", id, status[id], want)
		}
	}
	for _, f := range rep.Findings {
		if f.Engine != "posture" || !strings.HasPrefix(f.Check, "BW-AKS-") || f.File == "" || f.Line == 0 || len(f.Requirements) == 0 {
			t.Errorf("finding %+v", f)
		}
	}
}
