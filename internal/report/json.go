package report

import (
	"encoding/json"
	"io"

	"github.com/bulwark-k8s/bulwark/internal/controls"
)

// jsonReport is the -o json contract read by other tools:
// {"summary":{"requirements":[...]},"findings":[...]}.
type jsonReport struct {
	Summary  jsonSummary        `json:"summary"`
	Findings []controls.Finding `json:"findings"`
}

type jsonSummary struct {
	Requirements []controls.RequirementStatus `json:"requirements"`
	Objects      int                          `json:"objects"`
	Findings     int                          `json:"findings"`
}

func writeJSON(w io.Writer, r *Report) error {
	out := jsonReport{
		Summary:  jsonSummary{Requirements: r.Summary, Objects: r.Objects, Findings: len(r.Findings)},
		Findings: r.Findings,
	}
	if out.Summary.Requirements == nil {
		out.Summary.Requirements = []controls.RequirementStatus{}
	}
	if out.Findings == nil {
		out.Findings = []controls.Finding{}
	}
	for i := range out.Findings {
		if out.Findings[i].Requirements == nil {
			out.Findings[i].Requirements = []string{}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
