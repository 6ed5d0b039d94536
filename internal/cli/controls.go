package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/internal/controls"
	"github.com/bulwark-k8s/bulwark/internal/scan"
)

func newControlsCommand(s Streams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "controls",
		Short: "Print the control catalog: requirements and the checks that meet them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := builtinCatalog(cmd)
			if err != nil {
				return err
			}
			switch output {
			case "table":
				return controlsTable(s.Out, cat)
			case "json":
				enc := json.NewEncoder(s.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"requirements": controls.Requirements(), "checks": cat.Checks()})
			case "markdown", "md":
				return controlsMarkdown(s.Out, cat)
			}
			return usageError(fmt.Errorf("unknown output format %q (want table, json or markdown)", output))
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json, markdown")
	return cmd
}

// builtinCatalog gathers every engine's built-in checks.
func builtinCatalog(cmd *cobra.Command) (*controls.Catalog, error) {
	checks, err := scan.Checks(cmd.Context())
	if err != nil {
		return nil, err
	}
	return controls.NewCatalog(checks...)
}

func controlsTable(w io.Writer, cat *controls.Catalog) error {
	width := 0
	for _, c := range cat.Checks() {
		width = max(width, len(c.ID))
	}
	var b strings.Builder
	for _, r := range controls.Requirements() {
		fmt.Fprintf(&b, "%s  %s\n", r.ID, r.Title)
		checks := cat.ForRequirement(r.ID)
		if len(checks) == 0 {
			b.WriteString("  (no check yet)\n")
		}
		for _, c := range checks {
			fmt.Fprintf(&b, "  %-*s  %-8s  %-7s  %s\n", width, c.ID, strings.ToUpper(c.Severity.String()), c.Engine, c.Title)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func controlsMarkdown(w io.Writer, cat *controls.Catalog) error {
	var b strings.Builder
	b.WriteString("# Bulwark control catalog\n\n")
	for _, r := range controls.Requirements() {
		fmt.Fprintf(&b, "## %s: %s\n\n", r.ID, r.Title)
		checks := cat.ForRequirement(r.ID)
		if len(checks) == 0 {
			b.WriteString("No check yet.\n\n")
			continue
		}
		b.WriteString("| Check | Severity | Engine | Title | Remediation | Corresponds to |\n|---|---|---|---|---|---|\n")
		for _, c := range checks {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", c.ID, c.Severity, c.Engine, md(c.Title), md(c.Remediation), md(c.Anchor))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func md(s string) string {
	return strings.ReplaceAll(strings.Join(strings.Fields(s), " "), "|", "\\|")
}
