package index

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// DefaultLimit is the number of rows Query returns when Query.Limit is 0.
const DefaultLimit = 1000

// Query selects events. Every set field must match (string fields match
// exactly, case-sensitively); the zero Query selects every request.
type Query struct {
	// Since (inclusive) and Until (exclusive) bound the event time, the
	// stage timestamp. Zero means unbounded.
	Since, Until time.Time

	// User is the authenticated username (user.username). It does not
	// match groups (see Group) nor the impersonated user.
	User string
	// Group matches an event whose user is in this group.
	Group string
	Verb  string
	// Resource is the resource as kubectl and RBAC spell it: "pods",
	// "pods/exec" (resource and subresource), "deployments.apps" (and API
	// group) or "deployments.apps/scale". Without a subresource it matches
	// the resource and its subresources: "pods" matches pods/exec too.
	// Without a group it matches every group. A value starting with "/"
	// matches non-resource requests (/healthz, /version) by path.
	Resource string
	// Subresource narrows Resource; it must agree with a subresource in
	// Resource.
	Subresource string
	Namespace   string
	Name        string
	// SourceIP matches an event with this address among its source IPs.
	SourceIP string
	AuditID  string
	// Codes are response codes; an event matches any of them. A request
	// without a response status has code 0.
	Codes []int

	// Stage, when set, selects the events of that stage only
	// (RequestReceived, ResponseStarted, ResponseComplete, Panic).
	//
	// When Stage is empty and AllStages is false, Query shows one row per
	// request: the API server's audit policy usually logs a request at
	// RequestReceived and again at ResponseComplete (and long-running
	// ones at ResponseStarted), under one audit ID. The row shown is the
	// ResponseComplete or Panic event; failing that (a request still
	// running, or a policy that omits later stages) the latest stage
	// indexed; of an event archived twice (a webhook retry), the first.
	// Filters apply to the row shown: a request whose complete event does
	// not match is not represented by its earlier stages. The stages of a
	// request are found by audit ID and receive time; an event without
	// either is a request of its own.
	Stage     string
	AllStages bool

	// Limit is the most rows returned, newest first: DefaultLimit when 0,
	// no limit when negative. Count returns the Limit largest groups, all
	// of them when Limit is 0.
	Limit int
}

// Row is one indexed event.
type Row struct {
	Pos     audit.Position
	Time    time.Time
	AuditID string
	Stage   string
	Level   string
	User    string
	Groups  []string
	// Impersonated is the username the request impersonated, if any.
	Impersonated string
	Verb         string
	// Resource, Subresource, APIGroup, Namespace and Name are the object
	// reference; empty for non-resource requests, which RequestURI names.
	Resource, Subresource, APIGroup, Namespace, Name string
	// Code is the response code, 0 when the event has none.
	Code       int
	SourceIPs  []string
	UserAgent  string
	RequestURI string
}

// Target names what the request was about as Query.Resource spells it:
// "pods/exec", "deployments.apps", or the path of a non-resource request.
func (r *Row) Target() string {
	if r.Resource == "" {
		return requestPath(r.RequestURI)
	}
	s := r.Resource
	if r.APIGroup != "" {
		s += "." + r.APIGroup
	}
	if r.Subresource != "" {
		s += "/" + r.Subresource
	}
	return s
}

func requestPath(uri string) string {
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		return uri[:i]
	}
	return uri
}

// Group is one group of Count: the events whose dimension has the value
// Key, how many, and the time of the first and the last of them.
type Group struct {
	Key         string
	Count       int64
	First, Last time.Time
}

// Dimensions are the values of Count's by argument.
var Dimensions = []string{"user", "verb", "resource", "namespace", "sourceip", "code"}

// countBy is, for each dimension, what Count groups the event table by
// (inner, named k1, k2... in the grouped rows g) and the key each group
// then gets (outer; joins resolve the terms). Source IPs come out as JSON
// lists and are split in Go. The unary + keeps SQLite from grouping by
// walking an index of the column, which reads every event rather than
// the time range asked for.
var countBy = map[string]struct {
	inner        []string
	outer, joins string
}{
	"user":      {[]string{"+e.username"}, "coalesce(t.value, '')", "LEFT JOIN term t ON t.id = g.k1"},
	"verb":      {[]string{"+e.verb"}, "coalesce(t.value, '')", "LEFT JOIN term t ON t.id = g.k1"},
	"namespace": {[]string{"+e.namespace"}, "coalesce(t.value, '')", "LEFT JOIN term t ON t.id = g.k1"},
	"code":      {[]string{"+e.code"}, "CAST(g.k1 AS TEXT)", ""},
	"sourceip":  {[]string{"+e.source_ips"}, "coalesce(t.value, '[]')", "LEFT JOIN list t ON t.id = g.k1"},
	"resource": {
		[]string{"+e.resource", "+e.api_group", "+e.subresource",
			// The path of a non-resource request.
			"CASE WHEN e.resource = 0 THEN substr(e.request_uri, 1, instr(e.request_uri || '?', '?') - 1) ELSE '' END"},
		`CASE WHEN g.k1 = 0 THEN g.k4 ELSE coalesce(r.value, '')
			|| CASE WHEN g.k2 = 0 THEN '' ELSE '.' || coalesce(a.value, '') END
			|| CASE WHEN g.k3 = 0 THEN '' ELSE '/' || coalesce(s.value, '') END END`,
		"LEFT JOIN term r ON r.id = g.k1 LEFT JOIN term a ON a.id = g.k2 LEFT JOIN term s ON s.id = g.k3",
	},
}

// Query returns the events q selects, newest first.
func (ix *Index) Query(ctx context.Context, q Query) ([]Row, error) {
	where, args, err := q.where()
	if err != nil {
		return nil, err
	}
	sqlText := "SELECT " + rowColumns + rowFrom + where + " ORDER BY e.ts DESC, e.pos DESC"
	if limit := q.limit(DefaultLimit); limit > 0 {
		sqlText += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := ix.db.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return nil, fmt.Errorf("audit index %s: query: %w", ix.path, err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		var r Row
		var pos, ts int64
		var groups, ips string
		if err := rows.Scan(&pos, &ts, &r.AuditID, &r.Stage, &r.Level, &r.User, &groups,
			&r.Impersonated, &r.Verb, &r.Resource, &r.Subresource, &r.APIGroup, &r.Namespace, &r.Name, &r.Code,
			&ips, &r.UserAgent, &r.RequestURI); err != nil {
			return nil, fmt.Errorf("audit index %s: query: %w", ix.path, err)
		}
		r.Pos = unpackPosition(pos)
		r.Time = fromUnixNano(ts)
		r.Groups = parseStrings(groups)
		r.SourceIPs = parseStrings(ips)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit index %s: query: %w", ix.path, err)
	}
	return out, nil
}

// Count groups the events q selects by one of Dimensions and returns the
// groups, largest first (ties by key). A Group's Key is the dimension's
// value as Row spells it; "resource" is the form Row.Target returns;
// "sourceip" counts an event once for each of its addresses.
func (ix *Index) Count(ctx context.Context, q Query, by string) ([]Group, error) {
	c, ok := countBy[by]
	if !ok {
		return nil, fmt.Errorf("cannot count by %q (want one of %s)", by, strings.Join(Dimensions, ", "))
	}
	where, args, err := q.where()
	if err != nil {
		return nil, err
	}
	var cols, keys []string
	for i, col := range c.inner {
		cols = append(cols, fmt.Sprintf("%s AS k%d", col, i+1))
		keys = append(keys, fmt.Sprintf("k%d", i+1))
	}
	sqlText := "SELECT " + c.outer + ", g.n, g.f, g.l FROM (SELECT " + strings.Join(cols, ", ") +
		", count(*) AS n, min(e.ts) AS f, max(e.ts) AS l FROM event e" + where +
		" GROUP BY " + strings.Join(keys, ", ") + ") g " + c.joins
	rows, err := ix.db.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return nil, fmt.Errorf("audit index %s: count: %w", ix.path, err)
	}
	defer rows.Close()
	groups := map[string]*Group{}
	merge := func(key string, n, first, last int64) {
		g := groups[key]
		if g == nil {
			g = &Group{Key: key, First: fromUnixNano(first)}
			groups[key] = g
		}
		g.Count += n
		if t := fromUnixNano(first); t.Before(g.First) {
			g.First = t
		}
		if t := fromUnixNano(last); t.After(g.Last) {
			g.Last = t
		}
	}
	for rows.Next() {
		var key string
		var n, first, last int64
		if err := rows.Scan(&key, &n, &first, &last); err != nil {
			return nil, fmt.Errorf("audit index %s: count: %w", ix.path, err)
		}
		if by != "sourceip" {
			merge(key, n, first, last)
			continue
		}
		for _, ip := range parseStrings(key) {
			merge(ip, n, first, last)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit index %s: count: %w", ix.path, err)
	}
	out := make([]Group, 0, len(groups))
	for _, g := range groups {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Group) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	if limit := q.limit(0); limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (q *Query) limit(def int) int {
	switch {
	case q.Limit == 0:
		return def
	case q.Limit < 0:
		return 0
	}
	return q.Limit
}

// ParseResource splits a resource as Query.Resource spells it into the
// resource, its API group and subresource.
func ParseResource(s string) (resource, group, subresource string) {
	resource, subresource, _ = strings.Cut(s, "/")
	resource, group, _ = strings.Cut(resource, ".")
	return resource, group, subresource
}

// where builds the WHERE clause of q and its arguments. Terms are
// compared by id: a value never indexed has none and matches nothing.
func (q *Query) where() (string, []any, error) {
	var conds []string
	var args []any
	add := func(cond string, a ...any) {
		conds = append(conds, cond)
		args = append(args, a...)
	}
	term := func(col, v string) {
		if v != "" {
			add(col+" = (SELECT id FROM term WHERE value = ?)", v)
		}
	}
	inList := func(col, v string) {
		if v != "" {
			add(col+" IN (SELECT l.id FROM list l, json_each(l.value) j WHERE j.value = ?)", v)
		}
	}
	if !q.Since.IsZero() {
		add("e.ts >= ?", q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		add("e.ts < ?", q.Until.UnixNano())
	}
	term("e.username", q.User)
	term("e.verb", q.Verb)
	if strings.HasPrefix(q.Resource, "/") {
		if q.Subresource != "" {
			return "", nil, errors.New("a non-resource path has no subresource")
		}
		// The path alone or followed by a query string.
		add("e.resource = 0 AND (e.request_uri = ? OR substr(e.request_uri, 1, ?) = ?)",
			q.Resource, len(q.Resource)+1, q.Resource+"?")
	} else if q.Resource != "" || q.Subresource != "" {
		res, group, sub := ParseResource(q.Resource)
		if q.Subresource != "" {
			if sub != "" && sub != q.Subresource {
				return "", nil, fmt.Errorf("resource %q and subresource %q disagree", q.Resource, q.Subresource)
			}
			sub = q.Subresource
		}
		term("e.resource", res)
		term("e.subresource", sub)
		term("e.api_group", group)
	}
	term("e.namespace", q.Namespace)
	if q.Name != "" {
		add("e.name = ?", q.Name)
	}
	if q.AuditID != "" {
		add("e.audit_id = ?", q.AuditID)
	}
	if len(q.Codes) > 0 {
		codes := make([]any, len(q.Codes))
		for i, c := range q.Codes {
			codes[i] = c
		}
		add("e.code IN ("+marks(len(q.Codes))+")", codes...)
	}
	inList("e.source_ips", q.SourceIP)
	inList("e.user_groups", q.Group)
	switch {
	case q.Stage != "":
		term("e.stage", q.Stage)
	case !q.AllStages:
		add("e.superseded = 0")
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}
