package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/bulwark-k8s/bulwark/internal/controls"
)

// Report is what every output format renders.
type Report struct {
	// Tool and Version name the producer (SARIF, JUnit).
	Tool    string
	Version string
	// Inputs are the paths or cluster the report is about.
	Inputs []string
	// Objects counts the objects examined.
	Objects  int
	Summary  []controls.RequirementStatus
	Findings []controls.Finding
	// Catalog supplies rule metadata for SARIF.
	Catalog *controls.Catalog
}

// Formats lists the output formats.
var Formats = []string{"table", "json", "sarif", "junit"}

// Write renders r in format to w.
func Write(w io.Writer, format string, r *Report) error {
	switch format {
	case "table", "":
		return writeTable(w, r)
	case "json":
		return writeJSON(w, r)
	case "sarif":
		return writeSARIF(w, r)
	case "junit":
		return writeJUnit(w, r)
	}
	return fmt.Errorf("unknown output format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

// CheckFormat validates a format name before any work is done.
func CheckFormat(format string) error {
	for _, f := range Formats {
		if f == format {
			return nil
		}
	}
	return fmt.Errorf("unknown output format %q (want one of %s)", format, strings.Join(Formats, ", "))
}
