package alert_test

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/alert"
	"github.com/bulwark-k8s/bulwark/internal/detect"
)

// A router with one stdout sink: Build, Run in a goroutine, Send, Drain,
// then cancel Run and Close.
func ExampleBuild() {
	cfg := alert.Config{
		Cluster: "prod",
		Spool:   alert.SpoolConfig{Memory: true}, // a real deployment sets Dir
		Sinks:   []alert.SinkConfig{{Name: "console", Type: "stdout"}},
	}
	r, err := alert.Build(cfg, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()

	d := detect.Alert{
		Rule:     "Exec into pod",
		Priority: detect.PriorityWarning,
		Time:     time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		Output:   "exec into pod (user=alice pod=web-1)",
		AuditID:  "5e0c9b2a",
		Source:   "k8s_audit",
	}
	if err := r.Send(ctx, alert.New(d, "prod")); err != nil {
		fmt.Println(err)
	}
	if err := r.Drain(ctx); err != nil {
		fmt.Println(err)
	}
	cancel()
	<-done
	r.Close()
	// Output:
	// {"id":"ab92c13c0e2bcf8c3167bd96449a4986","rule":"Exec into pod","priority":"Warning","time":"2025-03-04T05:06:07Z","output":"exec into pod (user=alice pod=web-1)","auditID":"5e0c9b2a","source":"k8s_audit","cluster":"prod"}
}
