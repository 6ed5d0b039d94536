package index_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
	"github.com/bulwark-k8s/bulwark/internal/audit/index"
)

// Index two stages of an exec into a pod, then ask who exec'd into pods:
// one row per request, the complete stage.
func Example() {
	dir, err := os.MkdirTemp("", "bulwark-index")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	ix, err := index.Open(ctx, index.IndexPath(filepath.Join(dir, "audit")))
	if err != nil {
		log.Fatal(err)
	}
	defer ix.Close()

	received := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	exec := func(stage string, at time.Time, code int32) *audit.Event {
		return &audit.Event{
			AuditID: "4e3f", Stage: stage, Verb: "create",
			User:                     audit.UserInfo{Username: "alice@contoso.com"},
			SourceIPs:                []string{"203.0.113.10"},
			ObjectRef:                &audit.ObjectReference{Resource: "pods", Subresource: "exec", Namespace: "shop", Name: "web-1"},
			ResponseStatus:           &audit.Status{Code: code},
			RequestReceivedTimestamp: received, StageTimestamp: at,
		}
	}
	err = ix.Add(ctx, []index.Entry{
		{Pos: audit.Position{Segment: 1, Index: 0}, Event: exec("RequestReceived", received, 0)},
		{Pos: audit.Position{Segment: 1, Index: 1}, Event: exec("ResponseComplete", received.Add(90*time.Second), 101)},
	})
	if err != nil {
		log.Fatal(err)
	}

	rows, err := ix.Query(ctx, index.Query{Resource: "pods/exec"})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rows {
		fmt.Println(r.Time.Format(time.RFC3339), r.User, r.Verb, r.Target(), r.Namespace, r.Name, r.Code, r.Pos)
	}
	last, _, _ := ix.Last(ctx)
	fmt.Println("resume after", last)
	// Output:
	// 2026-03-01T12:01:30Z alice@contoso.com create pods/exec shop web-1 101 1:1
	// resume after 1:1
}
