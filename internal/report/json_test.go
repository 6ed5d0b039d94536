package report

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/controls"
)

// TestWriteJSON checks that the streamed report is what encoding/json's
// Encoder writes for the whole document.
func TestWriteJSON(t *testing.T) {
	finding := controls.Finding{
		Check: "BW-K8S-008", Requirements: []string{"REQ-09"}, Severity: controls.High, Title: "t",
		Message: `image "a<b>&c" is not allowed` + "\u2028\n", Remediation: "r", Engine: controls.EnginePolicy,
		EnforcementAction: "deny", Object: controls.ObjectRef{APIVersion: "v1", Kind: "Pod", Namespace: "n", Name: "p"},
		File: "f.yaml", Line: 3,
	}
	noReqs := finding
	noReqs.Requirements = nil
	for name, r := range map[string]*Report{
		"empty":    {},
		"one":      {Objects: 1, Findings: []controls.Finding{finding}},
		"several":  {Objects: 2, Summary: []controls.RequirementStatus{{ID: "REQ-09", Title: "x", Status: "fail", Failed: 2}}, Findings: []controls.Finding{finding, noReqs, finding}},
		"no-reqs":  {Findings: []controls.Finding{noReqs}},
		"no-finds": {Objects: 3, Summary: []controls.RequirementStatus{{ID: "REQ-01", Status: "pass", Passed: 1}}},
	} {
		var got bytes.Buffer
		if err := writeJSON(&got, r); err != nil {
			t.Fatal(err)
		}
		type document struct {
			Summary  jsonSummary        `json:"summary"`
			Findings []controls.Finding `json:"findings"`
		}
		doc := document{Summary: jsonSummary{Requirements: r.Summary, Objects: r.Objects, Findings: len(r.Findings)}, Findings: []controls.Finding{}}
		if doc.Summary.Requirements == nil {
			doc.Summary.Requirements = []controls.RequirementStatus{}
		}
		for _, f := range r.Findings {
			if f.Requirements == nil {
				f.Requirements = []string{}
			}
			doc.Findings = append(doc.Findings, f)
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%s: got\n%s\nwant\n%s", name, got.String(), want.String())
		}
	}
}
