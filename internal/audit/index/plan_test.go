package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// The main filters are served by an index that also gives the newest-first
// order; Add finds the requests of a batch through event_request.
func TestQueryPlans(t *testing.T) {
	ix := openTemp(t)
	events := genEvents(t, 5000, true)
	add(t, ix, entries(events, 0)...)
	// No ANALYZE: the planner works from the schema alone, as in service.
	since := t0.Add(5 * time.Second)
	for _, tc := range []struct {
		name  string
		q     Query
		index string
		sorts bool
	}{
		{"newest", Query{}, "event_ts", false},
		{"time range", Query{Since: since, Until: since.Add(10 * time.Second)}, "event_ts", false},
		{"user", Query{User: "alice@contoso.com", Since: since}, "event_user", false},
		{"exec", Query{Resource: "pods/exec", Since: since}, "event_resource", false},
		// Every subresource: the index's ranges are merged by a sort.
		{"resource", Query{Resource: "secrets"}, "event_resource", true},
		{"namespace", Query{Namespace: "payments", Since: since}, "event_namespace", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			where, args, err := tc.q.where()
			if err != nil {
				t.Fatal(err)
			}
			plan := explain(t, ix, "SELECT "+rowColumns+rowFrom+where+" ORDER BY e.ts DESC, e.pos DESC LIMIT 1000", args)
			if !strings.Contains(plan, "SEARCH e USING INDEX "+tc.index) && !strings.Contains(plan, "SCAN e USING INDEX "+tc.index) {
				t.Errorf("plan does not read event through %s:\n%s", tc.index, plan)
			}
			if strings.Contains(plan, "TEMP B-TREE") != tc.sorts {
				t.Errorf("plan sorts: %v, want %v:\n%s", !tc.sorts, tc.sorts, plan)
			}
			// Terms are looked up by key, never scanned.
			if strings.Contains(plan, "SCAN term") || strings.Contains(plan, "SCAN list") {
				t.Errorf("plan scans a dictionary:\n%s", plan)
			}
			// And the index answers like a scan of everything.
			checkModel(t, ix, events, tc.q)
		})
	}
	plan := explain(t, ix, "SELECT pos, received, audit_id, stage_rank FROM event WHERE superseded = 0 AND received IN (?, ?)", []any{1, 2})
	if !strings.Contains(plan, "SEARCH event USING INDEX event_request (received=?)") {
		t.Errorf("the probe of Add does not use event_request:\n%s", plan)
	}
}

func explain(t *testing.T, ix *Index, sqlText string, args []any) string {
	t.Helper()
	rows, err := ix.db.Query("EXPLAIN QUERY PLAN "+sqlText, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	return strings.Join(lines, "\n")
}

// TestModel compares queries over generated traffic with a reference
// that filters every event in Go.
func TestModel(t *testing.T) {
	ix := openTemp(t)
	events := genEvents(t, 6000, true)
	// Some requests are seen at RequestReceived only, still running.
	events = slices.DeleteFunc(events, func(e *audit.Event) bool {
		return e.Stage == "ResponseComplete" && strings.HasPrefix(e.AuditID, "0")
	})
	for i := 0; i < len(events); i += 500 {
		add(t, ix, entries(events[i:min(i+500, len(events))], i)...)
	}
	since := t0.Add(5 * time.Second)
	var queries []Query
	for _, u := range genUsers[:4] {
		queries = append(queries, Query{User: u.name}, Query{User: u.name, Since: since, Verb: "get"})
	}
	for _, r := range []string{"pods", "pods/exec", "leases.coordination.k8s.io", "nodes/status", "certificates.cert-manager.io"} {
		queries = append(queries, Query{Resource: r}, Query{Resource: r, Namespace: "shop", AllStages: true})
	}
	queries = append(queries,
		Query{}, Query{AllStages: true}, Query{Stage: "RequestReceived"},
		Query{Namespace: "kube-system", Codes: []int{403, 409}},
		Query{SourceIP: "203.0.113.11"}, Query{Group: "system:nodes", Until: since},
		Query{Name: "obj-7"}, Query{Codes: []int{0}},
		Query{Since: since, Until: since.Add(3 * time.Second), Limit: -1},
	)
	for _, q := range queries {
		checkModel(t, ix, events, q)
	}
	for _, q := range queries[:6] {
		for _, by := range Dimensions {
			checkCountModel(t, ix, events, q, by)
		}
	}
}

// model returns the events q selects, by reading every one, with their
// positions as entries() gives them.
func model(events []*audit.Event, q Query) []Row {
	es := entries(events, 0)
	shown := make([]bool, len(es))
	best := map[string]int{}
	for i, en := range es {
		e := en.Event
		if q.Stage != "" {
			shown[i] = e.Stage == q.Stage
			continue
		}
		if q.AllStages || e.AuditID == "" {
			shown[i] = true
			continue
		}
		j, ok := best[e.AuditID]
		if !ok || stageRank(e.Stage) > stageRank(es[j].Event.Stage) {
			best[e.AuditID] = i
		}
	}
	for _, i := range best {
		shown[i] = true
	}
	res, group, sub := ParseResource(q.Resource)
	var out []Row
	for i, en := range es {
		e := en.Event
		o := e.ObjectRef
		if o == nil {
			o = &audit.ObjectReference{}
		}
		code := 0
		if e.ResponseStatus != nil {
			code = int(e.ResponseStatus.Code)
		}
		match := shown[i] &&
			(q.Since.IsZero() || !e.Time().Before(q.Since)) &&
			(q.Until.IsZero() || e.Time().Before(q.Until)) &&
			(q.User == "" || e.User.Username == q.User) &&
			(q.Group == "" || slices.Contains(e.User.Groups, q.Group)) &&
			(q.Verb == "" || e.Verb == q.Verb) &&
			(res == "" || o.Resource == res) && (group == "" || o.APIGroup == group) &&
			(sub == "" || o.Subresource == sub) &&
			(q.Namespace == "" || o.Namespace == q.Namespace) &&
			(q.Name == "" || o.Name == q.Name) &&
			(q.SourceIP == "" || slices.Contains(e.SourceIPs, q.SourceIP)) &&
			(len(q.Codes) == 0 || slices.Contains(q.Codes, code))
		if match {
			out = append(out, Row{Pos: en.Pos, Time: e.Time(), AuditID: e.AuditID, Stage: e.Stage, User: e.User.Username, Verb: e.Verb,
				Resource: o.Resource, Subresource: o.Subresource, APIGroup: o.APIGroup, Namespace: o.Namespace, Name: o.Name, Code: code})
		}
	}
	slices.SortFunc(out, func(a, b Row) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		if b.Pos.Less(a.Pos) {
			return -1
		}
		return 1
	})
	if limit := q.limit(DefaultLimit); limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

func checkModel(t *testing.T, ix *Index, events []*audit.Event, q Query) {
	t.Helper()
	got := query(t, ix, q)
	want := model(events, q)
	if len(want) == 0 {
		t.Errorf("query %+v: the model selects nothing; not a useful test", q)
	}
	key := func(r Row) string {
		return fmt.Sprintf("%s %s %s %s %s %s %s.%s/%s %s/%s %d", r.Pos, r.Time.Format(time.RFC3339Nano), r.AuditID, r.Stage, r.User, r.Verb,
			r.Resource, r.APIGroup, r.Subresource, r.Namespace, r.Name, r.Code)
	}
	if len(got) != len(want) {
		t.Errorf("query %+v: %d rows, want %d", q, len(got), len(want))
		return
	}
	for i := range got {
		if key(got[i]) != key(want[i]) {
			t.Errorf("query %+v: row %d\n%s\nwant\n%s", q, i, key(got[i]), key(want[i]))
			return
		}
	}
}

func checkCountModel(t *testing.T, ix *Index, events []*audit.Event, q Query, by string) {
	t.Helper()
	q.Limit = -1
	rows := model(events, q)
	want := map[string]int64{}
	for _, r := range rows {
		switch by {
		case "user":
			want[r.User]++
		case "verb":
			want[r.Verb]++
		case "resource":
			want[r.Target()]++
		case "namespace":
			want[r.Namespace]++
		case "code":
			want[fmt.Sprint(r.Code)]++
		case "sourceip":
			e := events[r.Pos.Segment*500+r.Pos.Index-500]
			for _, ip := range e.SourceIPs {
				want[ip]++
			}
		}
	}
	q.Limit = 0
	groups, err := ix.Count(context.Background(), q, by)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for i, g := range groups {
		got[g.Key] = g.Count
		if i > 0 && g.Count > groups[i-1].Count {
			t.Errorf("count %+v by %s: groups out of order", q, by)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("count %+v by %s:\n%v\nwant\n%v", q, by, got, want)
	}
}

// Whatever order events arrive in, and in whatever batches, each request
// is shown once: by its best stage, and of duplicates the first archived.
func TestOneRowPerRequestAnyOrder(t *testing.T) {
	events := genEvents(t, 3000, true)
	// Some events delivered twice, at later positions.
	for i := 0; i < 3000; i += 7 {
		events = append(events, events[i])
	}
	es := entries(events, 0)
	r := rand.New(rand.NewPCG(3, 4))
	r.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
	ix := openTemp(t)
	for len(es) > 0 {
		n := min(1+r.IntN(300), len(es))
		add(t, ix, es[:n]...)
		// Some batches again.
		if r.IntN(5) == 0 {
			add(t, ix, es[:n/2]...)
		}
		es = es[n:]
	}
	for _, q := range []Query{{Limit: -1}, {User: genUsers[3].name}, {Resource: "pods"}, {Codes: []int{403}}, {AllStages: true, Limit: -1}} {
		checkModel(t, ix, events, q)
	}
	var shown int
	if err := ix.db.QueryRow("SELECT count(*) FROM event WHERE superseded = 0").Scan(&shown); err != nil {
		t.Fatal(err)
	}
	if shown != 1500 {
		t.Errorf("%d rows shown, want one for each of the 1500 requests", shown)
	}
}
