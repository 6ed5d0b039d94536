package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/internal/audit/archive"
)

type auditVerifyFlags struct {
	archiveURL string
	dataDir    string
	since      time.Duration
	output     string
}

// auditVerifyOutput is the JSON of `audit verify -o json`.
type auditVerifyOutput struct {
	Archive string `json:"archive"`
	*archive.Report
}

func newAuditVerifyCommand(s Streams) *cobra.Command {
	f := &auditVerifyFlags{}
	cmd := &cobra.Command{
		Use:   "verify [--archive-url URL | --data-dir DIR] [--since DURATION]",
		Short: "Check the audit archive for tampering: hash chains, checkpoints, missing segments",
		Long: `Checks the tamper-evident audit archive: every segment against its checkpoint
(size, SHA-256, event count), the hash chain event by event, every checkpoint
against the previous one, and the sequence numbers for gaps. Segments deleted
by retention are not problems. Prints each problem found (segment, event index,
what is wrong), then a summary line.

The archive is the bucket at --archive-url (file://, azblob://, s3://), by
default file://<data-dir>/archive. Events not yet uploaded (still in the
journal of a running bulwark serve) are not checked.

Exit status: 0 when the archive is intact, 1 when a problem is found, 2 when
the archive cannot be read.`,
		Example: `  bulwark audit verify
  bulwark audit verify --data-dir /var/lib/bulwark/audit --since 24h
  bulwark audit verify --archive-url azblob://audit-archive -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.output != "text" && f.output != "json" {
				return usageError(fmt.Errorf("unknown output format %q (want text or json)", f.output))
			}
			if f.since < 0 {
				return usageError(fmt.Errorf("--since %s: want a positive duration", f.since))
			}
			u := f.archiveURL
			if u == "" {
				dir, err := filepath.Abs(f.dataDir)
				if err != nil {
					return usageError(err)
				}
				u = "file://" + filepath.ToSlash(filepath.Join(dir, "archive"))
			}
			var o archive.VerifyOptions
			if f.since > 0 {
				o.Since = time.Now().Add(-f.since)
			}
			rep, err := archive.Verify(cmd.Context(), u, o)
			if err != nil {
				return usageError(err)
			}
			if f.output == "json" {
				enc := json.NewEncoder(s.Out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(auditVerifyOutput{Archive: withoutQuery(u), Report: rep}); err != nil {
					return err
				}
			} else {
				for _, p := range rep.Problems {
					fmt.Fprintln(s.Out, p)
				}
				fmt.Fprintln(s.Out, verifySummary(rep))
			}
			if !rep.OK() {
				return &ExitError{Code: ExitFindings}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.archiveURL, "archive-url", "", "bucket URL of the archive (default file://<data-dir>/archive)")
	fl.StringVar(&f.dataDir, "data-dir", DefaultAuditDataDir, "bulwark serve's audit data directory")
	fl.DurationVar(&f.since, "since", 0, "check only segments sealed in this last period, e.g. 24h (default: everything retention kept)")
	fl.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	cmd.MarkFlagsMutuallyExclusive("archive-url", "data-dir")
	return cmd
}

func verifySummary(rep *archive.Report) string {
	span := "no events"
	if !rep.FirstEventTime.IsZero() {
		span = fmt.Sprintf("events from %s to %s", rep.FirstEventTime.UTC().Format(time.RFC3339), rep.LastEventTime.UTC().Format(time.RFC3339))
	}
	retained := ""
	if rep.RetainedFrom > 0 {
		retained = fmt.Sprintf(" (segments before %d deleted by retention)", rep.RetainedFrom)
	}
	verdict := "intact"
	switch n := len(rep.Problems); n {
	case 0:
	case 1:
		verdict = "1 problem"
	default:
		verdict = fmt.Sprintf("%d problems", n)
	}
	if rep.Uploading != "" {
		retained += fmt.Sprintf(" (%s is being uploaded: no checkpoint yet)", rep.Uploading)
	}
	return fmt.Sprintf("checked %d segments, %d events, %s%s: %s", rep.Segments, rep.Events, span, retained, verdict)
}

// withoutQuery drops the query of a bucket URL, which may carry
// credentials.
func withoutQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.RawQuery, u.User = "", nil
	return u.String()
}
