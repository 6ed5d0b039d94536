package cli

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/bulwark-k8s/bulwark/internal/controls"
	"github.com/bulwark-k8s/bulwark/internal/report"
)

// reportFlags are the flags of every command that prints a compliance
// report: the format and the severity that fails the run.
type reportFlags struct {
	output string
	failOn string
}

func (r *reportFlags) bind(fl *pflag.FlagSet) {
	fl.StringVarP(&r.output, "output", "o", "table", "output format: table, json, sarif, junit")
	fl.StringVar(&r.failOn, "fail-on", "high", "exit 1 when a finding is at or above this severity: info, low, medium, high, critical, none")
}

// threshold validates both flags before any work is done and returns the
// failing severity.
func (r *reportFlags) threshold() (controls.Severity, error) {
	if err := report.CheckFormat(r.output); err != nil {
		return 0, usageError(err)
	}
	failOn, err := controls.ParseSeverity(r.failOn)
	if err != nil {
		return 0, usageError(fmt.Errorf("--fail-on: %w", err))
	}
	return failOn, nil
}

// write prints the report and returns the exit error its findings call
// for: ExitFindings when one is at or above failOn.
func (r *reportFlags) write(s Streams, rep *report.Report, failOn controls.Severity) error {
	if err := report.Write(s.Out, r.output, rep); err != nil {
		return err
	}
	for _, f := range rep.Findings {
		if f.Severity >= failOn {
			return &ExitError{Code: ExitFindings}
		}
	}
	return nil
}
