package cli

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
	"github.com/bulwark-k8s/bulwark/internal/audit/index"
)

// auditIndexDir indexes the workshop's audit log (alice's exec and attach
// into a payments pod, mallory's namespace, a cluster-admin binding, an
// anonymous secret list...) and bob reading a secret, received then
// complete, in an audit data directory as bulwark serve --audit would.
func auditIndexDir(t *testing.T) string {
	t.Helper()
	f, err := os.Open("../../examples/workshop/audit/audit.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var entries []index.Entry
	lr := audit.NewLineReader(f, "audit.log")
	for {
		ev, err := lr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, index.Entry{Pos: audit.Position{Segment: 1, Index: uint64(len(entries))}, Event: ev})
	}
	for i, stage := range []string{"RequestReceived", "ResponseComplete"} {
		status := ""
		if i == 1 {
			status = `"responseStatus":{"metadata":{},"code":200},`
		}
		ev, err := audit.Decode([]byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata",
			"auditID":"5d0c7a1e-2b9f-4e61-9a3d-7f20c4b1e8a2","stage":"` + stage + `",
			"requestURI":"/api/v1/namespaces/payments/secrets/db-password","verb":"get",
			"user":{"username":"bob@contoso.com","groups":["6c1f0a93-aks-developers","system:authenticated"]},
			"sourceIPs":["203.0.113.11"],"userAgent":"kubectl/v1.30.2 (linux/amd64) kubernetes/39683505",
			"objectRef":{"resource":"secrets","namespace":"payments","name":"db-password","apiVersion":"v1"},
			` + status + `
			"requestReceivedTimestamp":"2024-06-03T15:40:00.100000Z","stageTimestamp":"2024-06-03T15:40:00.10` + string(rune('0'+i)) + `500Z"}`))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, index.Entry{Pos: audit.Position{Segment: 2, Index: uint64(i)}, Event: ev})
	}
	dir := t.TempDir()
	ix, err := index.Open(context.Background(), index.IndexPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Add(context.Background(), entries); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAuditQuery(t *testing.T) {
	dir := auditIndexDir(t)
	file := index.IndexPath(dir)
	for _, tc := range []struct {
		name string
		args []string
		want []string // lines of the table, after the heading
	}{
		{"exec", []string{"--resource", "pods/exec"}, []string{
			"2024-06-03T14:05:40Z  alice@contoso.com  create  pods/exec  payments   api-7c9f8d6b54-k2vzp  101   203.0.113.45",
		}},
		{"exec by subresource", []string{"--resource", "pods", "--subresource", "exec"}, []string{
			"2024-06-03T14:05:40Z  alice@contoso.com  create  pods/exec  payments   api-7c9f8d6b54-k2vzp  101   203.0.113.45",
		}},
		{"secret", []string{"--namespace", "payments", "--name", "db-password"}, []string{
			"2024-06-03T15:40:00Z  bob@contoso.com  get   secrets   payments   db-password  200   203.0.113.11",
		}},
		{"deployment", []string{"--resource", "deployments.apps", "--verb", "create"}, []string{
			"2024-06-03T15:45:00Z  alice@contoso.com  create  deployments.apps  kubernetes-dashboard  kubernetes-dashboard  201   203.0.113.45",
		}},
		{"source ip and codes", []string{"--source-ip", "198.51.100.23", "--code", "201,403"}, []string{
			"2024-06-03T16:01:00Z  mallory@contoso.com  create  namespaces  -          crypto-lab      201   198.51.100.23",
			"2024-06-03T15:10:00Z  mallory@contoso.com  create  pods        default    host-inspector  201   198.51.100.23",
		}},
		{"time range", []string{"--since", "2024-06-03T16:00:00Z", "--until", "2024-06-03T16:00:02Z"}, []string{
			"2024-06-03T16:00:01Z  system:serviceaccount:kube-system:kube-proxy        get     configmaps                   kube-system      kube-proxy                         200   10.224.0.5",
			"2024-06-03T16:00:00Z  system:node:aks-nodepool1-31718369-vmss000001       update  leases.coordination.k8s.io   kube-node-lease  aks-nodepool1-31718369-vmss000001  200   10.224.0.5",
		}},
		{"limit", []string{"--user", "alice@contoso.com", "--limit", "1"}, []string{
			"2024-06-03T16:00:02Z  alice@contoso.com  list  pods      shop       -     200   203.0.113.45",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"audit", "query", "--index", file, "--since", "0"}, tc.args...)
			code, out, errs := run(t, "", args...)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, errs)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if !strings.HasPrefix(lines[0], "TIME ") || !strings.Contains(lines[0], "SOURCE IP") {
				t.Errorf("heading %q", lines[0])
			}
			if got, want := squeeze(lines[1:]), squeeze(tc.want); got != want {
				t.Errorf("rows\n%s\nwant\n%s", strings.Join(lines[1:], "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}

	// The same index through --data-dir, every stage of bob's request, and
	// the table layout itself.
	code, out, errs := run(t, "", "audit", "query", "--data-dir", dir, "--since", "0", "--user", "bob@contoso.com", "--all-stages")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	golden(t, "audit-query-stages.table", out)

	// The default --since 24h finds nothing in 2024's log: exit 0, a note.
	code, out, errs = run(t, "", "audit", "query", "--index", file)
	if code != ExitOK || strings.Count(out, "\n") != 1 || !strings.Contains(errs, "no matching events") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, _, errs = run(t, "", "audit", "query", "--index", file, "--since", "0", "--limit", "2")
	if code != ExitOK || !strings.Contains(errs, "the newest 2 matching events") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

// squeeze compares table rows without their column padding.
func squeeze(lines []string) string {
	var out []string
	for _, l := range lines {
		out = append(out, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(out, "\n")
}

func TestAuditQueryJSON(t *testing.T) {
	file := index.IndexPath(auditIndexDir(t))
	code, out, errs := run(t, "", "audit", "query", "--index", file, "--since", "0", "--resource", "pods/exec", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rows) != 1 {
		t.Fatalf("%d rows:\n%s", len(rows), out)
	}
	for _, key := range []string{"time", "auditID", "stage", "user", "groups", "verb", "resource", "subresource",
		"apiGroup", "namespace", "name", "code", "sourceIPs", "userAgent", "requestURI", "segment", "index"} {
		if _, ok := rows[0][key]; !ok {
			t.Errorf("no %q in %v", key, rows[0])
		}
	}
	r := rows[0]
	if r["time"] != "2024-06-03T14:05:40.118204Z" || r["auditID"] != "616a53b3-7c42-5f0c-8f17-209d2f0225db" ||
		r["stage"] != "ResponseComplete" || r["user"] != "alice@contoso.com" || r["subresource"] != "exec" ||
		r["code"] != 101.0 || r["segment"] != 1.0 || r["index"] != 3.0 ||
		!strings.HasPrefix(r["requestURI"].(string), "/api/v1/namespaces/payments/pods/api-7c9f8d6b54-k2vzp/exec?command=sh") ||
		!strings.Contains(out, "?command=sh&command=-c") {
		t.Errorf("row %v", r)
	}

	// No match is an empty array, not null.
	code, out, _ = run(t, "", "audit", "query", "--index", file, "--user", "nobody", "-o", "json")
	if code != ExitOK || strings.TrimSpace(out) != "[]" {
		t.Errorf("exit %d, %q", code, out)
	}
}

func TestAuditQueryCount(t *testing.T) {
	file := index.IndexPath(auditIndexDir(t))
	code, out, errs := run(t, "", "audit", "query", "--index", file, "--since", "0", "--count-by", "user")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := []string{
		"USER REQUESTS FIRST LAST",
		"alice@contoso.com 7 2024-06-03T14:05:40Z 2024-06-03T16:00:02Z",
		"mallory@contoso.com 2 2024-06-03T15:10:00Z 2024-06-03T16:01:00Z",
		"bob@contoso.com 1 2024-06-03T15:40:00Z 2024-06-03T15:40:00Z",
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got := squeeze(lines[:4]); got != strings.Join(want, "\n") {
		t.Errorf("count by user:\n%s", out)
	}
	if len(lines) != 9 {
		t.Errorf("%d lines, want a heading and 8 users:\n%s", len(lines), out)
	}

	code, out, errs = run(t, "", "audit", "query", "--index", file, "--since", "0", "--user", "alice@contoso.com", "--count-by", "resource", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var groups []auditQueryGroup
	if err := json.Unmarshal([]byte(out), &groups); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, g := range groups {
		got[g.Key] = g.Count
	}
	for key, n := range map[string]int64{"pods": 2, "pods/exec": 1, "pods/attach": 1, "pods/portforward": 1, "pods/ephemeralcontainers": 1, "deployments.apps": 1} {
		if got[key] != n {
			t.Errorf("%s: %d, want %d (%v)", key, got[key], n, got)
		}
	}

	code, out, _ = run(t, "", "audit", "query", "--index", file, "--since", "0", "--count-by", "sourceip", "--limit", "1")
	if code != ExitOK || squeeze(strings.Split(strings.TrimSpace(out), "\n")) != "SOURCE IP REQUESTS FIRST LAST\n203.0.113.45 7 2024-06-03T14:05:40Z 2024-06-03T16:00:02Z" {
		t.Errorf("exit %d, count by source IP:\n%s", code, out)
	}
}

func TestAuditQueryErrors(t *testing.T) {
	dir := auditIndexDir(t)
	file := index.IndexPath(dir)
	notIndex := filepath.Join(t.TempDir(), "notes.db")
	os.WriteFile(notIndex, []byte(strings.Repeat("notes\n", 200)), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data-dir", t.TempDir()}, "does not exist: bulwark serve --audit creates it"},
		{[]string{"--index", notIndex}, "not a bulwark audit index: the file is not an SQLite database"},
		{[]string{"--index", file, "--since", "yesterday"}, `--since: "yesterday" is neither a duration`},
		{[]string{"--index", file, "--since", "-2h"}, "without a sign"},
		{[]string{"--index", file, "--since", "1h", "--until", "2h"}, "is not before --until"},
		{[]string{"--index", file, "--count-by", "colour"}, `--count-by "colour": want one of user, verb`},
		{[]string{"--index", file, "-o", "yaml"}, `unknown output format "yaml"`},
		{[]string{"--index", file, "--limit", "-1"}, "--limit -1"},
		{[]string{"--index", file, "--code", "4000"}, "not an HTTP status code"},
		{[]string{"--index", file, "--resource", "pods/exec", "--subresource", "log"}, "disagree"},
		{[]string{"--index", file, "--data-dir", dir}, "none of the others can be"},
		{[]string{"--index", file, "extra"}, "unknown command"},
	} {
		t.Run(strings.Join(tc.args[min(2, len(tc.args)-1):], " "), func(t *testing.T) {
			code, _, errs := run(t, "", append([]string{"audit", "query"}, tc.args...)...)
			if code != ExitUsage || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errs, tc.want)
			}
		})
	}
}

func TestParseQueryTime(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                          {},
		"0":                         {},
		"90m":                       now.Add(-90 * time.Minute),
		"24h":                       now.Add(-24 * time.Hour),
		"7d":                        now.Add(-7 * 24 * time.Hour),
		"1d12h":                     now.Add(-36 * time.Hour),
		"2026-11-01T00:00:00Z":      time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		"2026-11-01T08:30:00+01:00": time.Date(2026, 11, 1, 7, 30, 0, 0, time.UTC),
	} {
		got, err := parseQueryTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"7", "d", "7d-1h", "x7d", "2026-11-01", "-1d", "1w"} {
		if got, err := parseQueryTime(in, now); err == nil {
			t.Errorf("%q: %v, want an error", in, got)
		}
	}
}
