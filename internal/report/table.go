package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/bulwark-k8s/bulwark/internal/controls"
)

func writeTable(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Bulwark compliance report: %d objects", r.Objects)
	if len(r.Inputs) > 0 {
		fmt.Fprintf(&b, " from %s", strings.Join(r.Inputs, ", "))
	}
	b.WriteString("\n\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REQUIREMENT\tSTATUS\tFAILED\tPASSED\tTITLE")
	counts := map[string]int{}
	for _, s := range r.Summary {
		counts[s.Status]++
		title := s.Title
		if s.Status == controls.StatusNotAssessed && s.Reason != "" {
			title += " (" + s.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", s.ID, strings.ToUpper(s.Status), s.Failed, s.Passed, title)
	}
	tw.Flush()
	fmt.Fprintf(&b, "\n%d passing, %d failing, %d not assessed; %d findings\n",
		counts[controls.StatusPass], counts[controls.StatusFail], counts[controls.StatusNotAssessed], len(r.Findings))

	if len(r.Findings) > 0 {
		b.WriteString("\nFindings by requirement\n")
		byReq := groupByRequirement(r.Findings)
		for _, s := range r.Summary {
			fs := byReq[s.ID]
			if len(fs) == 0 {
				continue
			}
			fmt.Fprintf(&b, "\n%s  %s\n", s.ID, s.Title)
			for i, f := range fs {
				if i == 0 || fs[i-1].Check != f.Check {
					fmt.Fprintf(&b, "  %s  %s  %s\n", f.Check, strings.ToUpper(f.Severity.String()), f.Title)
					if f.Remediation != "" {
						fmt.Fprintf(&b, "    fix: %s\n", oneLine(f.Remediation))
					}
				}
				fmt.Fprintf(&b, "    - %s", f.Object)
				if f.File != "" {
					fmt.Fprintf(&b, "  (%s)", position(f))
				}
				if f.EnforcementAction != "" && f.EnforcementAction != "deny" {
					fmt.Fprintf(&b, "  [%s]", f.EnforcementAction)
				}
				fmt.Fprintf(&b, "\n      %s\n", f.Message)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// groupByRequirement lists each finding under its first requirement only,
// so a finding is printed once.
func groupByRequirement(fs []controls.Finding) map[string][]controls.Finding {
	out := map[string][]controls.Finding{}
	for _, f := range fs {
		id := controls.Custom
		if len(f.Requirements) > 0 {
			id = f.Requirements[0]
		}
		out[id] = append(out[id], f)
	}
	return out
}

func position(f controls.Finding) string {
	if f.Line > 0 {
		return fmt.Sprintf("%s:%d", f.File, f.Line)
	}
	return f.File
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
