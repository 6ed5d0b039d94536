package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit/archive"
)

// archiveDataDir builds an audit archive of 60 events in several segments
// under dir/archive, as bulwark serve would with --data-dir dir.
func archiveDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	a, err := archive.Open(context.Background(), archive.Options{
		URL:             "file://" + filepath.Join(dir, "archive"),
		JournalDir:      filepath.Join(dir, "journal"),
		MaxSegmentBytes: 4 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		var batch [][]byte
		for k := range 10 {
			ts := time.Date(2026, 11, 22, 7, 0, i*10+k, 0, time.UTC).Format(time.RFC3339)
			batch = append(batch, fmt.Appendf(nil, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"id-%d-%d","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"list","user":{"username":"alice"},"stageTimestamp":%q}`, i, k, ts))
		}
		if _, err := a.Append(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAuditVerify(t *testing.T) {
	dir := archiveDataDir(t)
	code, out, errs := run(t, "", "audit", "verify", "--data-dir", dir)
	if code != ExitOK {
		t.Fatalf("exit %d; stdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if !strings.Contains(out, "60 events, events from 2026-11-22T07:00:00Z to 2026-11-22T07:00:59Z: intact") {
		t.Errorf("summary: %s", out)
	}

	// Edit one byte of a segment.
	segs, _ := filepath.Glob(filepath.Join(dir, "archive", "segments", "*", "*", "*", "*", "*.jsonl.gz"))
	if len(segs) < 3 {
		t.Fatalf("%d segments", len(segs))
	}
	data, err := os.ReadFile(segs[1])
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := os.WriteFile(segs[1], data, 0o600); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(filepath.Join(dir, "archive"), segs[1])
	key := filepath.ToSlash(rel)

	code, out, _ = run(t, "", "audit", "verify", "--archive-url", "file://"+filepath.Join(dir, "archive"))
	if code != ExitFindings {
		t.Fatalf("exit %d after editing %s, want 1; stdout:\n%s", code, key, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], key+": ") || !strings.Contains(out, "digest_mismatch") {
		t.Errorf("output does not name %s first:\n%s", key, out)
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "checked ") || !strings.Contains(last, "problem") {
		t.Errorf("summary: %s", last)
	}

	code, out, _ = run(t, "", "audit", "verify", "--data-dir", dir, "-o", "json")
	if code != ExitFindings {
		t.Fatalf("-o json: exit %d", code)
	}
	var rep struct {
		Archive  string
		Segments int
		Events   int
		Problems []archive.Problem
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if len(rep.Problems) == 0 || rep.Problems[0].Key != key || rep.Segments != len(segs) || !strings.HasPrefix(rep.Archive, "file://") {
		t.Errorf("-o json: %+v", rep)
	}
}

func TestAuditVerifyUsage(t *testing.T) {
	dir := archiveDataDir(t)
	for _, args := range [][]string{
		{"--data-dir", filepath.Join(t.TempDir(), "absent")},
		{"--data-dir", dir, "-o", "yaml"},
		{"--data-dir", dir, "--since", "-1h"},
		{"--data-dir", dir, "--archive-url", "file://" + dir},
		{"--archive-url", "nosuch://bucket"},
		{"extra"},
	} {
		code, _, errs := run(t, "", append([]string{"audit", "verify"}, args...)...)
		if code != ExitUsage || errs == "" {
			t.Errorf("audit verify %v: exit %d, stderr %q; want 2 and a message", args, code, errs)
		}
	}
	if code, out, _ := run(t, "", "audit", "verify", "--data-dir", dir, "--since", "1h"); code != ExitOK || !strings.Contains(out, "intact") {
		t.Errorf("--since 1h: exit %d, %s", code, out)
	}
}
