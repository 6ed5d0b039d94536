package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/internal/audit"
	"github.com/bulwark-k8s/bulwark/internal/config"
	"github.com/bulwark-k8s/bulwark/internal/detect"
)

func newAuditCommand(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Work with Kubernetes audit events: detect attacks in an audit log",
	}
	cmd.AddCommand(newAuditReplayCommand(s))
	cmd.AddCommand(newAuditVerifyCommand(s))
	cmd.AddCommand(newAuditQueryCommand(s))
	return cmd
}

type replayFlags struct {
	rules          []string
	noDefaultRules bool
	config         string
	output         string
}

// replayAlert is one line of `audit replay -o json`.
type replayAlert struct {
	Rule         string            `json:"rule"`
	Priority     string            `json:"priority"`
	Time         time.Time         `json:"time"`
	Output       string            `json:"output"`
	Fields       map[string]string `json:"fields"`
	AuditID      string            `json:"auditID"`
	Requirements []string          `json:"requirements"`
	Check        string            `json:"check,omitempty"`
	Tags         []string          `json:"tags,omitempty"`
	Source       string            `json:"source"`
}

func newAuditReplayCommand(s Streams) *cobra.Command {
	f := &replayFlags{}
	cmd := &cobra.Command{
		Use:   "replay FILE...",
		Short: "Run the detection rules over audit log files (JSON lines, - for standard input)",
		Long: `Reads Kubernetes audit events (audit.k8s.io/v1, one Event or EventList per
line, as the API server's log backend writes them) and runs Bulwark's detection
rules and any Falco k8s_audit rules files given with --rules. Prints one alert
per line. A line that cannot be decoded is reported with its file and line and
the replay goes on; the exit status is then 2.`,
		Example: `  bulwark audit replay /var/log/kubernetes/audit.log
  bulwark audit replay audit.log --rules k8s_audit_rules.yaml --no-default-rules -o json`,
		Args: argsAtLeast(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.output != "json" && f.output != "text" {
				return usageError(fmt.Errorf("unknown output format %q (want json or text)", f.output))
			}
			cfg, err := loadConfig(f.config)
			if err != nil {
				return usageError(err)
			}
			eng, err := detectEngine(cfg, f.rules, f.noDefaultRules)
			if err != nil {
				return usageError(err)
			}
			enc := json.NewEncoder(s.Out)
			var bad int
			for _, file := range args {
				n, err := replayFile(s, eng, file, func(a detect.Alert) error {
					if f.output == "text" {
						_, err := fmt.Fprintf(s.Out, "%s %s %s: %s\n", a.Time.UTC().Format(time.RFC3339Nano), a.Priority, a.Rule, a.Output)
						return err
					}
					return enc.Encode(replayAlert{
						Rule: a.Rule, Priority: a.Priority.String(), Time: a.Time, Output: a.Output,
						Fields: a.Fields, AuditID: a.AuditID, Requirements: nonNil(a.Requirements),
						Check: a.Check, Tags: a.Tags, Source: a.Source,
					})
				})
				bad += n
				if err != nil {
					return usageError(err)
				}
			}
			if bad > 0 {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%d audit log lines could not be decoded", bad)}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.rules, "rules", nil, "Falco rules file (k8s_audit source) to load after Bulwark's own (repeatable)")
	fl.BoolVar(&f.noDefaultRules, "no-default-rules", false, "load only the --rules files")
	fl.StringVar(&f.config, "config", "", "bulwark.yaml: audit.allowedSourceRanges, audit.secretReaders, audit.exemptUsers, audit.rules")
	fl.StringVarP(&f.output, "output", "o", "json", "output format: json (one alert per line) or text")
	return cmd
}

// detectEngine compiles Bulwark's rules (unless left out) and the user's.
func detectEngine(cfg *config.Config, files []string, noDefaults bool) (*detect.Engine, error) {
	files = append(append([]string{}, cfg.Audit.Rules...), files...)
	if noDefaults {
		if len(files) == 0 {
			return nil, errors.New("--no-default-rules needs at least one --rules file")
		}
		return detect.LoadRules(files...)
	}
	return detect.LoadDefaultRules(detect.Options{
		AllowedSourceCIDRs: cfg.Audit.AllowedSourceRanges,
		SecretReaders:      cfg.Audit.SecretReaders,
		ExemptUsers:        cfg.Audit.ExemptUsers,
	}, files...)
}

// replayFile evaluates every event of one file; it returns the number of
// lines that could not be decoded, and an error when the file cannot be
// read at all.
func replayFile(s Streams, eng *detect.Engine, file string, emit func(detect.Alert) error) (int, error) {
	var r io.Reader
	if file == "-" {
		r = s.In
	} else {
		fh, err := os.Open(file)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", file, unwrapPathError(err))
		}
		defer fh.Close()
		r = fh
	}
	lr := audit.NewLineReader(r, file)
	bad := 0
	lastBad := -1
	for {
		ev, err := lr.Next()
		if errors.Is(err, io.EOF) {
			return bad, nil
		}
		if err != nil {
			var le *audit.LineError
			if !errors.As(err, &le) || lr.Line() == lastBad {
				return bad, err
			}
			fmt.Fprintf(s.Err, "error: %v\n", err)
			bad++
			lastBad = lr.Line()
			continue
		}
		for _, a := range eng.Evaluate(ev) {
			if err := emit(a); err != nil {
				return bad, err
			}
		}
	}
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
