package index

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

func openTemp(t *testing.T) *Index {
	t.Helper()
	ix, err := Open(context.Background(), filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ix.Close(); err != nil {
			t.Error(err)
		}
	})
	return ix
}

func add(t *testing.T, ix *Index, entries ...Entry) {
	t.Helper()
	if err := ix.Add(context.Background(), entries); err != nil {
		t.Fatal(err)
	}
}

func query(t *testing.T, ix *Index, q Query) []Row {
	t.Helper()
	rows, err := ix.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func pos(seg, idx uint64) audit.Position { return audit.Position{Segment: seg, Index: idx} }

// evt builds an event in code; at is its time and recv the time its
// request was received (at when 0), in seconds after t0.
type evt struct {
	id, stage, user, verb, resource, sub, group, ns, name, ip, uri string
	groups                                                         []string
	code                                                           int32
	at, recv                                                       float64
}

func (v evt) event() *audit.Event {
	at := t0.Add(time.Duration(v.at * float64(time.Second)))
	if v.recv == 0 {
		v.recv = v.at
	}
	e := &audit.Event{
		Kind: "Event", APIVersion: audit.APIVersion, Level: "Metadata",
		AuditID: v.id, Stage: v.stage, RequestURI: v.uri, Verb: v.verb,
		User:                     audit.UserInfo{Username: v.user, Groups: v.groups},
		UserAgent:                "kubectl/v1.30.2",
		RequestReceivedTimestamp: t0.Add(time.Duration(v.recv * float64(time.Second))),
		StageTimestamp:           at,
	}
	if v.ip != "" {
		e.SourceIPs = []string{v.ip}
	}
	if v.resource != "" {
		e.ObjectRef = &audit.ObjectReference{Resource: v.resource, Subresource: v.sub, APIGroup: v.group, Namespace: v.ns, Name: v.name}
	}
	if v.code != 0 {
		e.ResponseStatus = &audit.Status{Code: v.code}
	}
	return e
}

// scenario is a small cluster story: alice execs into a pod, bob reads a
// secret, flux creates a deployment, a probe hits /healthz, and mallory
// is refused from outside.
func scenario() []Entry {
	const rc, rr = "ResponseComplete", "RequestReceived"
	alice := []string{"aks-admins", "system:authenticated"}
	evs := []evt{
		{id: "a1", stage: rr, user: "alice", groups: alice, verb: "create", resource: "pods", sub: "exec", ns: "shop", name: "web-1", ip: "203.0.113.10", at: 10},
		{id: "b1", stage: rr, user: "bob", verb: "get", resource: "secrets", ns: "payments", name: "db-password", ip: "10.0.0.5", at: 20},
		{id: "b1", stage: rc, user: "bob", verb: "get", resource: "secrets", ns: "payments", name: "db-password", ip: "10.0.0.5", code: 200, at: 20.2, recv: 20},
		{id: "f1", stage: rr, user: "system:serviceaccount:flux-system:kustomize-controller", verb: "create", resource: "deployments", group: "apps", ns: "shop", name: "web", ip: "10.244.1.7", at: 30},
		{id: "f1", stage: rc, user: "system:serviceaccount:flux-system:kustomize-controller", verb: "create", resource: "deployments", group: "apps", ns: "shop", name: "web", ip: "10.244.1.7", code: 201, at: 30.5, recv: 30},
		{id: "h1", stage: rc, user: "system:anonymous", verb: "get", uri: "/healthz?verbose=1", ip: "10.0.0.1", code: 200, at: 40},
		{id: "m1", stage: rc, user: "mallory", verb: "list", resource: "secrets", ip: "198.51.100.23", code: 403, at: 50},
		// alice's exec ends after the others: a long-running request.
		{id: "a1", stage: rc, user: "alice", groups: alice, verb: "create", resource: "pods", sub: "exec", ns: "shop", name: "web-1", ip: "203.0.113.10", code: 101, at: 60, recv: 10},
	}
	out := make([]Entry, len(evs))
	for i, v := range evs {
		if v.uri == "" && v.resource != "" {
			v.uri = "/api/v1/namespaces/" + v.ns + "/" + v.resource + "/" + v.name
		}
		out[i] = Entry{Pos: pos(1, uint64(i)), Event: v.event()}
	}
	return out
}

func ids(rows []Row) string {
	var s []string
	for _, r := range rows {
		s = append(s, r.AuditID+":"+strings.TrimPrefix(strings.TrimPrefix(r.Stage, "Request"), "Response"))
	}
	return strings.Join(s, " ")
}

func TestRoundTrip(t *testing.T) {
	ix := openTemp(t)
	add(t, ix, scenario()...)
	rows := query(t, ix, Query{AllStages: true})
	if got, want := ids(rows), "a1:Complete m1:Complete h1:Complete f1:Complete f1:Received b1:Complete b1:Received a1:Received"; got != want {
		t.Fatalf("rows %s, want %s", got, want)
	}
	want := Row{
		Pos: pos(1, 7), Time: t0.Add(60 * time.Second), AuditID: "a1", Stage: "ResponseComplete", Level: "Metadata",
		User: "alice", Groups: []string{"aks-admins", "system:authenticated"}, Verb: "create",
		Resource: "pods", Subresource: "exec", Namespace: "shop", Name: "web-1", Code: 101,
		SourceIPs: []string{"203.0.113.10"}, UserAgent: "kubectl/v1.30.2", RequestURI: "/api/v1/namespaces/shop/pods/web-1",
	}
	if !reflect.DeepEqual(rows[0], want) {
		t.Errorf("row\n%+v\nwant\n%+v", rows[0], want)
	}
	if got := rows[0].Target(); got != "pods/exec" {
		t.Errorf("target %q", got)
	}
	// A non-resource request keeps its URI and is named by its path.
	h := rows[2]
	if h.Resource != "" || h.Namespace != "" || h.RequestURI != "/healthz?verbose=1" || h.Target() != "/healthz" {
		t.Errorf("non-resource row %+v, target %q", h, h.Target())
	}
	if got := rows[3].Target(); got != "deployments.apps" {
		t.Errorf("target %q", got)
	}
}

func TestFilters(t *testing.T) {
	ix := openTemp(t)
	add(t, ix, scenario()...)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, tc := range []struct {
		name string
		q    Query
		want string
	}{
		{"all", Query{}, "a1:Complete m1:Complete h1:Complete f1:Complete b1:Complete"},
		{"user", Query{User: "alice"}, "a1:Complete"},
		{"user is exact", Query{User: "Alice"}, ""},
		{"user not a group", Query{User: "aks-admins"}, ""},
		{"group", Query{Group: "aks-admins"}, "a1:Complete"},
		{"verb", Query{Verb: "get"}, "h1:Complete b1:Complete"},
		{"resource", Query{Resource: "secrets"}, "m1:Complete b1:Complete"},
		{"resource with subresources", Query{Resource: "pods"}, "a1:Complete"},
		{"resource/subresource", Query{Resource: "pods/exec"}, "a1:Complete"},
		{"subresource", Query{Resource: "pods", Subresource: "exec"}, "a1:Complete"},
		{"subresource alone", Query{Subresource: "exec"}, "a1:Complete"},
		{"other subresource", Query{Resource: "pods/log"}, ""},
		{"resource.group", Query{Resource: "deployments.apps"}, "f1:Complete"},
		{"wrong group", Query{Resource: "deployments.extensions"}, ""},
		{"non-resource path", Query{Resource: "/healthz"}, "h1:Complete"},
		{"path prefix is not a match", Query{Resource: "/health"}, ""},
		{"namespace", Query{Namespace: "shop"}, "a1:Complete f1:Complete"},
		{"name", Query{Name: "db-password"}, "b1:Complete"},
		{"namespace and name", Query{Namespace: "shop", Name: "web"}, "f1:Complete"},
		{"source IP", Query{SourceIP: "198.51.100.23"}, "m1:Complete"},
		{"audit ID", Query{AuditID: "b1"}, "b1:Complete"},
		{"audit ID all stages", Query{AuditID: "b1", AllStages: true}, "b1:Complete b1:Received"},
		{"codes", Query{Codes: []int{403, 201}}, "m1:Complete f1:Complete"},
		{"since", Query{Since: at(40)}, "a1:Complete m1:Complete h1:Complete"},
		{"until", Query{Until: at(40)}, "f1:Complete b1:Complete"},
		{"since and until", Query{Since: at(20.2), Until: at(50)}, "h1:Complete f1:Complete b1:Complete"},
		{"stage", Query{Stage: "RequestReceived"}, "f1:Received b1:Received a1:Received"},
		{"unknown stage", Query{Stage: "Nope"}, ""},
		{"unknown user", Query{User: "nobody"}, ""},
		{"limit", Query{Limit: 2}, "a1:Complete m1:Complete"},
		{"combined", Query{User: "bob", Verb: "get", Resource: "secrets", Namespace: "payments", Codes: []int{200}}, "b1:Complete"},
		{"combined miss", Query{User: "bob", Verb: "get", Resource: "secrets", Namespace: "shop"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(query(t, ix, tc.q)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	for _, q := range []Query{
		{Resource: "pods/exec", Subresource: "log"},
		{Resource: "/healthz", Subresource: "log"},
	} {
		if _, err := ix.Query(context.Background(), q); err == nil {
			t.Errorf("%+v: no error", q)
		}
	}
}

// One row per request: the complete stage, else the latest indexed; the
// same event delivered twice is one row; events without an audit ID are
// each their own request; filters apply to the row shown.
func TestOneRowPerRequest(t *testing.T) {
	ix := openTemp(t)
	const rr, rs, rc = "RequestReceived", "ResponseStarted", "ResponseComplete"
	e := func(id, stage string, code int32, at float64) *audit.Event {
		// Requests are received on the second.
		return evt{id: id, stage: stage, user: "u", verb: "watch", resource: "pods", code: code, at: at, recv: float64(int(at))}.event()
	}
	add(t, ix,
		Entry{pos(1, 0), e("running", rr, 0, 1)},
		Entry{pos(1, 1), e("watch", rr, 0, 2)},
		Entry{pos(1, 2), e("watch", rs, 200, 2.1)},
		Entry{pos(1, 3), e("twice", rr, 0, 3)},
		Entry{pos(1, 4), e("twice", rc, 200, 3.5)},
		Entry{pos(1, 5), e("twice", rc, 200, 3.5)}, // redelivered
		Entry{pos(1, 6), e("", rc, 200, 4)},
		Entry{pos(1, 7), e("", rc, 200, 4.5)},
		Entry{pos(1, 8), e("panic", rr, 0, 5)},
		Entry{pos(1, 9), e("panic", "Panic", 500, 5.1)},
	)
	rows := query(t, ix, Query{})
	var got []string
	for _, r := range rows {
		got = append(got, r.AuditID+"@"+r.Pos.String())
	}
	if want := []string{"panic@1:9", "@1:7", "@1:6", "twice@1:4", "watch@1:2", "running@1:0"}; !slices.Equal(got, want) {
		t.Errorf("default rows %v, want %v", got, want)
	}
	// The watch finishes later, in another batch.
	watchEnd := e("watch", rc, 200, 9)
	watchEnd.RequestReceivedTimestamp = t0.Add(2 * time.Second)
	add(t, ix, Entry{pos(2, 0), watchEnd})
	if got := query(t, ix, Query{AuditID: "watch"}); len(got) != 1 || got[0].Stage != rc {
		t.Errorf("watch rows %+v", got)
	}
	// Code 0 is only on the received stages, which the complete ones hide.
	if got := ids(query(t, ix, Query{Codes: []int{0}})); got != "running:Received" {
		t.Errorf("code 0 rows %q", got)
	}
	if got := len(query(t, ix, Query{AllStages: true})); got != 11 {
		t.Errorf("all stages: %d rows, want 11", got)
	}
}

func TestIdempotentAddAndLast(t *testing.T) {
	ix := openTemp(t)
	ctx := context.Background()
	if _, ok, err := ix.Last(ctx); ok || err != nil {
		t.Fatalf("empty index: last ok=%v err=%v", ok, err)
	}
	es := scenario()
	add(t, ix, es...)
	add(t, ix, es...)
	add(t, ix, es[2:5]...)
	if n := len(query(t, ix, Query{AllStages: true})); n != len(es) {
		t.Errorf("%d rows after adding twice, want %d", n, len(es))
	}
	last, ok, err := ix.Last(ctx)
	if err != nil || !ok || last != pos(1, 7) {
		t.Errorf("last %v %v %v, want 1:7", last, ok, err)
	}
	// Out of order, and entries without an event, still move Last.
	add(t, ix, Entry{Pos: pos(3, 4)}, Entry{Pos: pos(2, 9), Event: es[0].Event})
	if last, _, _ := ix.Last(ctx); last != pos(3, 4) {
		t.Errorf("last %v, want 3:4", last)
	}
	// A batch of earlier positions does not move it back.
	add(t, ix, Entry{Pos: pos(2, 10), Event: es[1].Event})
	if last, _, _ := ix.Last(ctx); last != pos(3, 4) {
		t.Errorf("last %v, want 3:4", last)
	}
	// An add that fails adds nothing.
	err = ix.Add(ctx, []Entry{{Pos: pos(4, 0), Event: es[0].Event}, {Pos: pos(1<<31, 0), Event: es[0].Event}})
	if err == nil || !strings.Contains(err.Error(), "out of the index's range") {
		t.Errorf("position out of range: %v", err)
	}
	if last, _, _ := ix.Last(ctx); last != pos(3, 4) {
		t.Errorf("last %v after a failed add, want 3:4", last)
	}
	if n := len(query(t, ix, Query{AllStages: true})); n != len(es)+2 {
		t.Errorf("%d rows, want %d", n, len(es)+2)
	}
	// Last survives reopening and pruning everything.
	path := ix.Path()
	ix.Close()
	ix2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ix2.Close()
	if _, err := ix2.Prune(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if last, ok, _ := ix2.Last(ctx); !ok || last != pos(3, 4) {
		t.Errorf("last %v %v after reopening and pruning, want 3:4", last, ok)
	}
}

// An event with nothing in it is indexed and read back empty.
func TestEmptyEvent(t *testing.T) {
	ix := openTemp(t)
	add(t, ix, Entry{Pos: pos(0, 0), Event: &audit.Event{}}, Entry{Pos: pos(0, 1), Event: &audit.Event{SourceIPs: []string{""}, User: audit.UserInfo{Groups: []string{}}}})
	rows := query(t, ix, Query{})
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	if want := (Row{Pos: pos(0, 0)}); !reflect.DeepEqual(rows[1], want) {
		t.Errorf("row %+v, want %+v", rows[1], want)
	}
	if got := rows[0].SourceIPs; !slices.Equal(got, []string{""}) {
		t.Errorf("source IPs %q", got)
	}
	for _, by := range Dimensions {
		groups, err := ix.Count(context.Background(), Query{}, by)
		if err != nil {
			t.Fatalf("count by %s: %v", by, err)
		}
		if n := groups[0].Count; n != 2 && by != "sourceip" {
			t.Errorf("count by %s: %+v", by, groups)
		}
	}
}

// Strings with quotes, control characters and bad UTF-8 survive the JSON
// lists.
func TestListEncoding(t *testing.T) {
	ix := openTemp(t)
	groups := []string{`a"b\c`, "tab\there", "\x00nul", "bad\xffutf8", "日本"}
	add(t, ix, Entry{Pos: pos(0, 0), Event: &audit.Event{User: audit.UserInfo{Username: "u", Groups: groups}}})
	rows := query(t, ix, Query{Group: "日本"})
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	want := slices.Clone(groups)
	want[3] = "bad\ufffdutf8"
	if !slices.Equal(rows[0].Groups, want) {
		t.Errorf("groups %q, want %q", rows[0].Groups, want)
	}
	if len(query(t, ix, Query{Group: `a"b\c`})) != 1 {
		t.Error("group with quote and backslash not found")
	}
}

func TestCount(t *testing.T) {
	ix := openTemp(t)
	add(t, ix, scenario()...)
	str := func(gs []Group) string {
		var s []string
		for _, g := range gs {
			s = append(s, g.Key+"="+string(rune('0'+g.Count)))
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct {
		by   string
		q    Query
		want string
	}{
		{"user", Query{}, "alice=1 bob=1 mallory=1 system:anonymous=1 system:serviceaccount:flux-system:kustomize-controller=1"},
		{"user", Query{AllStages: true}, "alice=2 bob=2 system:serviceaccount:flux-system:kustomize-controller=2 mallory=1 system:anonymous=1"},
		{"verb", Query{}, "create=2 get=2 list=1"},
		{"resource", Query{}, "secrets=2 /healthz=1 deployments.apps=1 pods/exec=1"},
		{"namespace", Query{}, "=2 shop=2 payments=1"},
		{"sourceip", Query{}, "10.0.0.1=1 10.0.0.5=1 10.244.1.7=1 198.51.100.23=1 203.0.113.10=1"},
		{"code", Query{}, "101=1 200=2 201=1 403=1"},
		{"code", Query{Limit: 1}, "200=2"},
		{"verb", Query{Namespace: "shop"}, "create=2"},
	} {
		t.Run(tc.by, func(t *testing.T) {
			gs, err := ix.Count(context.Background(), tc.q, tc.by)
			if err != nil {
				t.Fatal(err)
			}
			if tc.by == "code" && tc.q.Limit == 0 {
				slices.SortFunc(gs, func(a, b Group) int { return strings.Compare(a.Key, b.Key) })
			}
			if got := str(gs); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	gs, err := ix.Count(context.Background(), Query{User: "alice", AllStages: true}, "user")
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 1 || !gs[0].First.Equal(t0.Add(10*time.Second)) || !gs[0].Last.Equal(t0.Add(60*time.Second)) {
		t.Errorf("alice's group %+v", gs)
	}
	if _, err := ix.Count(context.Background(), Query{}, "colour"); err == nil || !strings.Contains(err.Error(), "user, verb") {
		t.Errorf("unknown dimension: %v", err)
	}
}

// Several events of one source IP list count once per address.
func TestCountSourceIPs(t *testing.T) {
	ix := openTemp(t)
	e := func(ips ...string) *audit.Event { return &audit.Event{SourceIPs: ips, Stage: "ResponseComplete"} }
	add(t, ix, Entry{pos(0, 0), e("1.1.1.1", "10.0.0.1")}, Entry{pos(0, 1), e("10.0.0.1")}, Entry{pos(0, 2), e()})
	gs, err := ix.Count(context.Background(), Query{}, "sourceip")
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 2 || gs[0].Key != "10.0.0.1" || gs[0].Count != 2 || gs[1].Key != "1.1.1.1" || gs[1].Count != 1 {
		t.Errorf("groups %+v", gs)
	}
}

func TestPrune(t *testing.T) {
	ix := openTemp(t)
	ctx := context.Background()
	defer func(n int64) { pruneBatch = n }(pruneBatch)
	pruneBatch = 1000
	events := genEvents(t, int(3*pruneBatch/2), false)
	for i := 0; i < len(events); i += 500 {
		add(t, ix, entries(events[i:min(i+500, len(events))], i)...)
	}
	add(t, ix, Entry{Pos: pos(9999, 0), Event: &audit.Event{AuditID: "timeless"}})
	cut := events[pruneBatch+100].Time()
	n, err := ix.Prune(ctx, cut)
	if err != nil {
		t.Fatal(err)
	}
	if n != pruneBatch+100 {
		t.Errorf("pruned %d, want %d", n, pruneBatch+100)
	}
	rows := query(t, ix, Query{Limit: -1, AllStages: true})
	if len(rows) != len(events)-int(n)+1 {
		t.Errorf("%d rows left, want %d", len(rows), len(events)-int(n)+1)
	}
	for _, r := range rows {
		if r.AuditID != "timeless" && r.Time.Before(cut) {
			t.Fatalf("row at %v survived a prune before %v", r.Time, cut)
		}
	}
	if n, err := ix.Prune(ctx, cut); n != 0 || err != nil {
		t.Errorf("second prune: %d, %v", n, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte(strings.Repeat("not a database\n", 100)), 0o600)

	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE cookies (name TEXT)"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	newer := filepath.Join(dir, "newer.db")
	ix, err := Open(ctx, newer)
	if err != nil {
		t.Fatal(err)
	}
	ix.db.Exec("PRAGMA user_version = 99")
	ix.Close()

	corrupt := filepath.Join(dir, "corrupt.db")
	ix, err = Open(ctx, corrupt)
	if err != nil {
		t.Fatal(err)
	}
	ix.Close()
	b, _ := os.ReadFile(corrupt)
	// Garble the schema table's cells on page 1, past the header.
	for i := 200; i < len(b) && i < pageSize; i++ {
		b[i] ^= 0x5a
	}
	os.WriteFile(corrupt, b, 0o600)

	for _, tc := range []struct {
		path string
		want error
		msg  string
	}{
		{text, ErrNotIndex, "not an SQLite database"},
		{other, ErrNotIndex, "another application"},
		{newer, ErrSchemaVersion, "99 (this build reads version 1)"},
		{corrupt, ErrCorrupt, ""},
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			for name, open := range map[string]func(context.Context, string) (*Index, error){"Open": Open, "OpenReadOnly": OpenReadOnly} {
				ix, err := open(ctx, tc.path)
				if err == nil {
					ix.Close()
					t.Fatalf("%s: no error", name)
				}
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("%s: %v, want %v naming the file and saying %q", name, err, tc.want, tc.msg)
				}
			}
		})
	}
	// The other application's file is left as it was.
	db, _ = sql.Open("sqlite", other)
	defer db.Close()
	var tables int
	db.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&tables)
	if tables != 1 {
		t.Errorf("other application's database has %d objects, want 1", tables)
	}
}

func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := OpenReadOnly(ctx, filepath.Join(dir, "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	path := IndexPath(filepath.Join(dir, "audit"))
	if filepath.Base(path) != "index.db" {
		t.Errorf("index path %s", path)
	}
	ix, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("index file mode %v, %v; want 0600", fi.Mode(), err)
	}
	add(t, ix, scenario()...)
	ix.Close()

	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if n := len(query(t, ro, Query{})); n != 5 {
		t.Errorf("%d rows, want 5", n)
	}
	if err := ro.Add(ctx, scenario()); err == nil {
		t.Error("read-only index accepted an add")
	}
	if _, err := ro.Prune(ctx, time.Now()); err == nil {
		t.Error("read-only index accepted a prune")
	}
}

// Readers run beside a writer.
func TestConcurrentAddQuery(t *testing.T) {
	ix := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := genEvents(t, 4000, true)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := ix.Query(ctx, Query{User: "alice@contoso.com", Limit: 50}); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
				if _, err := ix.Count(ctx, Query{}, "resource"); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
				if _, _, err := ix.Last(ctx); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
		}()
	}
	// Two writers: Add serializes them.
	var writers sync.WaitGroup
	for w := range 2 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := w * 500; i < len(events); i += 1000 {
				if err := ix.Add(ctx, entries(events[i:i+500], i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	writers.Wait()
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(query(t, ix, Query{AllStages: true, Limit: -1})); n != len(events) {
		t.Errorf("%d rows, want %d", n, len(events))
	}
}

// Ids of terms created in a transaction that rolls back are forgotten:
// the next Add creates them again rather than point at nothing.
func TestTermsRollback(t *testing.T) {
	ix := openTemp(t)
	ctx := context.Background()
	add(t, ix, scenario()[:1]...)
	err := ix.w.conn.Raw(func(dc any) error {
		w := ix.w
		w.c = dc.(rawConn)
		tx, err := w.c.BeginTx(ctx, driver.TxOptions{})
		if err != nil {
			return err
		}
		if _, err := w.terms.str(ctx, w, "zed"); err != nil {
			return err
		}
		w.closeOnce()
		tx.Rollback()
		w.terms.rollback()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ix.terms.ids["zed"]; ok {
		t.Fatal("the cache kept a rolled back term")
	}
	add(t, ix, Entry{Pos: pos(5, 0), Event: evt{id: "z", stage: "ResponseComplete", user: "zed"}.event()})
	if rows := query(t, ix, Query{User: "zed"}); len(rows) != 1 || rows[0].User != "zed" {
		t.Errorf("rows %+v", rows)
	}
}

// The view for the sqlite3 shell answers the query docs/audit-query.md
// shows.
func TestEventsView(t *testing.T) {
	ix := openTemp(t)
	add(t, ix, scenario()...)
	rows, err := ix.db.Query(`SELECT username, verb, resource, namespace, name, count(*) AS n
  FROM events WHERE superseded = 0 AND ts >= unixepoch('2026-03-01') * 1000000000
  GROUP BY 1, 2, 3, 4, 5 ORDER BY n DESC LIMIT 20`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var user, verb, res, ns, name string
		var n int
		if err := rows.Scan(&user, &verb, &res, &ns, &name, &n); err != nil {
			t.Fatal(err)
		}
		got = append(got, user+" "+verb+" "+res+" "+ns+"/"+name)
	}
	if len(got) != 5 || !slices.Contains(got, "alice create pods shop/web-1") {
		t.Errorf("view rows %q", got)
	}
	var segment, idx int
	if err := ix.db.QueryRow("SELECT segment, idx FROM events WHERE audit_id = 'h1'").Scan(&segment, &idx); err != nil || segment != 1 || idx != 5 {
		t.Errorf("position %d:%d, %v", segment, idx, err)
	}
}
