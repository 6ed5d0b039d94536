package report

import (
	"bufio"
	"encoding/json"
	"io"

	"github.com/bulwark-k8s/bulwark/internal/controls"
)

type jsonSummary struct {
	Requirements []controls.RequirementStatus `json:"requirements"`
	Objects      int                          `json:"objects"`
	Findings     int                          `json:"findings"`
}

// writeJSON writes the -o json contract read by other tools,
// {"summary":{"requirements":[...],...},"findings":[...]}, as
// encoding/json's Encoder with a two-space indent would, one finding at a
// time: a scan's report can hold tens of thousands of findings, and
// encoding it whole held two copies of it in memory and made a second
// pass over it to indent.
func writeJSON(w io.Writer, r *Report) error {
	summary := jsonSummary{Requirements: r.Summary, Objects: r.Objects, Findings: len(r.Findings)}
	if summary.Requirements == nil {
		summary.Requirements = []controls.RequirementStatus{}
	}
	js, err := json.MarshalIndent(summary, "  ", "  ")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString("{\n  \"summary\": ")
	bw.Write(js)
	bw.WriteString(",\n  \"findings\": ")
	if len(r.Findings) == 0 {
		bw.WriteString("[]")
	} else {
		bw.WriteString("[\n    ")
		for i, f := range r.Findings {
			if f.Requirements == nil {
				f.Requirements = []string{}
			}
			js, err := json.MarshalIndent(f, "    ", "  ")
			if err != nil {
				return err
			}
			if i > 0 {
				bw.WriteString(",\n    ")
			}
			bw.Write(js)
		}
		bw.WriteString("\n  ]")
	}
	bw.WriteString("\n}\n")
	return bw.Flush()
}
