package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/internal/audit/index"
)

type auditQueryFlags struct {
	dataDir, indexFile string
	since, until       string
	q                  index.Query
	codes              []int
	countBy            string
	limit              int
	limitSet           bool
	output             string
}

// auditQueryRow is one element of `audit query -o json`.
type auditQueryRow struct {
	Time         time.Time `json:"time"`
	AuditID      string    `json:"auditID"`
	Stage        string    `json:"stage"`
	Level        string    `json:"level"`
	User         string    `json:"user"`
	Groups       []string  `json:"groups"`
	Impersonated string    `json:"impersonatedUser,omitempty"`
	Verb         string    `json:"verb"`
	Resource     string    `json:"resource"`
	Subresource  string    `json:"subresource"`
	APIGroup     string    `json:"apiGroup"`
	Namespace    string    `json:"namespace"`
	Name         string    `json:"name"`
	Code         int       `json:"code"`
	SourceIPs    []string  `json:"sourceIPs"`
	UserAgent    string    `json:"userAgent"`
	RequestURI   string    `json:"requestURI"`
	Segment      uint64    `json:"segment"`
	Index        uint64    `json:"index"`
}

// auditQueryGroup is one element of `audit query --count-by X -o json`.
type auditQueryGroup struct {
	Key   string    `json:"key"`
	Count int64     `json:"count"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

func newAuditQueryCommand(s Streams) *cobra.Command {
	f := &auditQueryFlags{}
	cmd := &cobra.Command{
		Use:   "query [--data-dir DIR | --index FILE] [--since 24h] [filters] [--count-by DIMENSION]",
		Short: "Search the index of archived audit events: who did what to which object, from where",
		Long: `Searches the index bulwark serve --audit keeps of every archived audit event
and prints the matching requests, newest first, or with --count-by how many
there are per user, verb, resource, namespace, source IP or response code.

Filters match exactly and combine with AND. --user is the authenticated
username (--group a group it is in). --resource takes the resource as kubectl
and RBAC spell it: pods (with its subresources), pods/exec, deployments.apps,
or a path such as /healthz for non-resource requests. --since and --until take
a duration back from now (90m, 24h, 7d), an RFC 3339 time, or 0 for no bound.

The API server usually logs a request twice, when received and when complete.
Each request is one row, its complete stage (or the latest logged if it has
not completed); --all-stages shows every event, --stage only one stage. The
segment and index of a row (-o json) find the whole event in the archive.

Exit status: 0 when the query ran (matches or not), 2 on a usage error or an
index that cannot be read.`,
		Example: `  bulwark audit query --resource pods/exec
  bulwark audit query --namespace payments --name db-password --since 7d
  bulwark audit query --user alice@contoso.com --since 2026-03-01T00:00:00Z -o json
  bulwark audit query --count-by sourceip --since 24h
  bulwark audit query --index ./index.db --code 401 --code 403 --count-by user`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.limitSet = cmd.Flags().Changed("limit")
			q, err := f.query(time.Now())
			if err != nil {
				return usageError(err)
			}
			path := f.indexFile
			if path == "" {
				path = index.IndexPath(f.dataDir)
			}
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				return usageError(fmt.Errorf("audit index %s does not exist: bulwark serve --audit creates it (set --data-dir to serve's, or --index)", path))
			}
			ix, err := index.OpenReadOnly(cmd.Context(), path)
			if err != nil {
				return usageError(err)
			}
			defer ix.Close()
			if f.countBy != "" {
				groups, err := ix.Count(cmd.Context(), q, f.countBy)
				if err != nil {
					return usageError(err)
				}
				return writeAuditGroups(s, f.output, f.countBy, groups)
			}
			rows, err := ix.Query(cmd.Context(), q)
			if err != nil {
				return usageError(err)
			}
			if err := writeAuditRows(s.Out, f.output, rows, q.AllStages || q.Stage != ""); err != nil {
				return err
			}
			if f.output == "table" {
				switch {
				case len(rows) == 0:
					fmt.Fprintln(s.Err, "no matching events")
				case len(rows) == q.Limit:
					fmt.Fprintf(s.Err, "the newest %d matching events; --limit shows more\n", len(rows))
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", DefaultAuditDataDir, "bulwark serve's audit data directory; the index is its "+index.FileName)
	fl.StringVar(&f.indexFile, "index", "", "the index file (instead of the one in --data-dir)")
	fl.StringVar(&f.since, "since", "24h", "events at or after: a duration back from now (90m, 24h, 7d), an RFC 3339 time, or 0 for no bound")
	fl.StringVar(&f.until, "until", "", "events before: a duration back from now or an RFC 3339 time")
	fl.StringVar(&f.q.User, "user", "", "authenticated username")
	fl.StringVar(&f.q.Group, "group", "", "a group of the user")
	fl.StringVar(&f.q.Verb, "verb", "", "verb: get, list, watch, create, update, patch, delete...")
	fl.StringVar(&f.q.Resource, "resource", "", "resource: pods, pods/exec, deployments.apps, or a non-resource path such as /healthz")
	fl.StringVar(&f.q.Subresource, "subresource", "", "subresource, such as exec, attach, log, status")
	fl.StringVarP(&f.q.Namespace, "namespace", "n", "", "namespace")
	fl.StringVar(&f.q.Name, "name", "", "object name")
	fl.StringVar(&f.q.SourceIP, "source-ip", "", "one of the request's source IP addresses")
	fl.StringVar(&f.q.AuditID, "audit-id", "", "audit ID of one request (give a time range: the audit ID is not indexed)")
	fl.IntSliceVar(&f.codes, "code", nil, "response code (repeatable, or comma-separated)")
	fl.StringVar(&f.q.Stage, "stage", "", "only events of this stage: RequestReceived, ResponseStarted, ResponseComplete, Panic")
	fl.BoolVar(&f.q.AllStages, "all-stages", false, "every event, not one row per request")
	fl.StringVar(&f.countBy, "count-by", "", "count the matching requests by "+strings.Join(index.Dimensions, ", "))
	fl.IntVar(&f.limit, "limit", index.DefaultLimit, "most rows printed, newest first (with --count-by: most groups, largest first, all unless set); 0 for all")
	fl.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	cmd.MarkFlagsMutuallyExclusive("data-dir", "index")
	cmd.MarkFlagsMutuallyExclusive("stage", "all-stages")
	return cmd
}

// query checks the flags and builds the index query; now anchors the
// relative times.
func (f *auditQueryFlags) query(now time.Time) (index.Query, error) {
	q := f.q
	if f.output != "table" && f.output != "json" {
		return q, fmt.Errorf("unknown output format %q (want table or json)", f.output)
	}
	if f.countBy != "" && !slices.Contains(index.Dimensions, f.countBy) {
		return q, fmt.Errorf("--count-by %q: want one of %s", f.countBy, strings.Join(index.Dimensions, ", "))
	}
	var err error
	if q.Since, err = parseQueryTime(f.since, now); err != nil {
		return q, fmt.Errorf("--since: %w", err)
	}
	if q.Until, err = parseQueryTime(f.until, now); err != nil {
		return q, fmt.Errorf("--until: %w", err)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return q, fmt.Errorf("--since %s is not before --until %s", q.Since.Format(time.RFC3339), q.Until.Format(time.RFC3339))
	}
	if strings.HasPrefix(q.Resource, "/") && q.Subresource != "" {
		return q, errors.New("--subresource with a non-resource path")
	}
	if _, _, sub := index.ParseResource(q.Resource); sub != "" && q.Subresource != "" && sub != q.Subresource {
		return q, fmt.Errorf("--resource %s and --subresource %s disagree", q.Resource, q.Subresource)
	}
	switch {
	case f.limit < 0:
		return q, fmt.Errorf("--limit %d: want 0 (all) or more", f.limit)
	case f.limit == 0:
		q.Limit = -1
	default:
		q.Limit = f.limit
	}
	if f.countBy != "" && !f.limitSet {
		q.Limit = 0 // every group
	}
	for _, c := range f.codes {
		if c < 0 || c > 999 {
			return q, fmt.Errorf("--code %d: not an HTTP status code", c)
		}
	}
	q.Codes = f.codes
	return q, nil
}

// parseQueryTime reads a --since or --until value: empty or 0 is no
// bound; a duration (with d for days) is that long before now; otherwise
// an RFC 3339 time.
func parseQueryTime(v string, now time.Time) (time.Time, error) {
	if v == "" || v == "0" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := parseDays(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (90m, 24h, 7d) nor an RFC 3339 time", v)
	}
	if d < 0 {
		return time.Time{}, fmt.Errorf("%q: want a duration back from now, without a sign", v)
	}
	return now.Add(-d), nil
}

// parseDays is time.ParseDuration with a leading number of days: 7d, 1d12h.
func parseDays(v string) (time.Duration, error) {
	days, rest, ok := strings.Cut(v, "d")
	if !ok {
		return time.ParseDuration(v)
	}
	n, err := strconv.ParseUint(days, 10, 16)
	if err != nil {
		return 0, err
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 {
			return 0, fmt.Errorf("bad duration %q", v)
		}
		d += r
	}
	return d, nil
}

func writeAuditRows(w io.Writer, format string, rows []index.Row, stages bool) error {
	if format == "json" {
		out := make([]auditQueryRow, len(rows))
		for i, r := range rows {
			out[i] = auditQueryRow{
				Time: r.Time, AuditID: r.AuditID, Stage: r.Stage, Level: r.Level,
				User: r.User, Groups: nonNil(r.Groups), Impersonated: r.Impersonated, Verb: r.Verb,
				Resource: r.Resource, Subresource: r.Subresource, APIGroup: r.APIGroup,
				Namespace: r.Namespace, Name: r.Name, Code: r.Code, SourceIPs: nonNil(r.SourceIPs),
				UserAgent: r.UserAgent, RequestURI: r.RequestURI, Segment: r.Pos.Segment, Index: r.Pos.Index,
			}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // request URIs keep their &
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	stage := ""
	if stages {
		stage = "STAGE\t"
	}
	fmt.Fprintf(tw, "TIME\t%sUSER\tVERB\tRESOURCE\tNAMESPACE\tNAME\tCODE\tSOURCE IP\n", stage)
	for _, r := range rows {
		if stages {
			stage = cell(r.Stage) + "\t"
		}
		user := r.User
		if r.Impersonated != "" {
			user += " (as " + r.Impersonated + ")"
		}
		code := "-"
		if r.Code != 0 {
			code = strconv.Itoa(r.Code)
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%s\t%s\t%s\t%s\t%s\t%s\n", timeCell(r.Time), stage, cell(user), cell(r.Verb),
			cell(r.Target()), cell(r.Namespace), cell(r.Name), code, cell(strings.Join(r.SourceIPs, ",")))
	}
	return tw.Flush()
}

func writeAuditGroups(s Streams, format, by string, groups []index.Group) error {
	if format == "json" {
		out := make([]auditQueryGroup, len(groups))
		for i, g := range groups {
			out[i] = auditQueryGroup{Key: g.Key, Count: g.Count, First: g.First, Last: g.Last}
		}
		enc := json.NewEncoder(s.Out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(out)
	}
	heading := map[string]string{"sourceip": "SOURCE IP"}[by]
	if heading == "" {
		heading = strings.ToUpper(by)
	}
	tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tREQUESTS\tFIRST\tLAST\n", heading)
	for _, g := range groups {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", cell(g.Key), g.Count, timeCell(g.First), timeCell(g.Last))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(groups) == 0 {
		fmt.Fprintln(s.Err, "no matching events")
	}
	return nil
}

// cell shows an empty field as "-" so columns stay readable and
// splittable.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func timeCell(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
