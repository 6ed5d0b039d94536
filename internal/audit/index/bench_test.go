package index

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkAdd indexes realistic events (about 1.5 KB of JSON each, 20
// users, 16 resources, 10 namespaces) in batches of 500, into an index
// that grows through the run as it does in service. b.N counts events.
// two-stages is the usual audit policy, each request logged when
// received and when complete; one-stage a policy that omits
// RequestReceived, where every event is a request of its own.
func BenchmarkAdd(b *testing.B) {
	for _, stages := range []bool{true, false} {
		name := "one-stage"
		if stages {
			name = "two-stages"
		}
		b.Run(name, func(b *testing.B) { benchmarkAdd(b, stages) })
	}
}

func benchmarkAdd(b *testing.B, stages bool) {
	const batch = 500
	events := genEvents(b, 100_000, stages)
	ctx := context.Background()
	ix, err := Open(ctx, filepath.Join(b.TempDir(), "index.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for done := 0; done < b.N; done += batch {
		n := min(batch, b.N-done)
		from := done % len(events)
		n = min(n, len(events)-from)
		es := entries(events[from:from+n], done)
		if done >= len(events) {
			// The same traffic again, later and under other audit IDs.
			round := done / len(events)
			for k, en := range es {
				e := *en.Event
				e.AuditID += fmt.Sprint(round)
				shift := time.Duration(round) * time.Duration(len(events)) * 10 * time.Millisecond
				e.StageTimestamp = e.StageTimestamp.Add(shift)
				e.RequestReceivedTimestamp = e.RequestReceivedTimestamp.Add(shift)
				es[k].Event = &e
			}
		}
		if err := ix.Add(ctx, es); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	// The same per second of CPU (user and system, all threads): the
	// figure that holds on a machine other work shares.
	b.ReportMetric(float64(b.N)/(cpuTime(b)-cpu0).Seconds(), "events/cpu-s")
}

// cpuTime is the CPU time the process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkQuery runs the investigations of docs/audit-query.md against an
// index of 400,000 events (200,000 requests, two stages each, 20 users).
func BenchmarkQuery(b *testing.B) {
	ctx := context.Background()
	ix, err := Open(ctx, filepath.Join(b.TempDir(), "index.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	events := genEvents(b, 100_000, true)
	for round := range 4 {
		// The same traffic again, later and under other audit IDs.
		shift := time.Duration(round) * 500 * time.Second
		for i := 0; i < len(events); i += 500 {
			es := entries(events[i:i+500], round*len(events)+i)
			for k, en := range es {
				e := *en.Event
				e.AuditID += fmt.Sprint(round)
				e.StageTimestamp = e.StageTimestamp.Add(shift)
				e.RequestReceivedTimestamp = e.RequestReceivedTimestamp.Add(shift)
				es[k].Event = &e
			}
			if err := ix.Add(ctx, es); err != nil {
				b.Fatal(err)
			}
		}
	}
	last := t0.Add(2000 * time.Second)
	for _, bc := range []struct {
		name string
		q    Query
		by   string
	}{
		{"newest", Query{}, ""},
		{"user", Query{User: "alice@contoso.com"}, ""},
		{"exec", Query{Resource: "pods/exec"}, ""},
		{"secrets-in-namespace", Query{Resource: "secrets", Namespace: "payments", Since: last.Add(-10 * time.Minute)}, ""},
		{"object", Query{Namespace: "payments", Name: "obj-42"}, ""},
		{"source-ip", Query{SourceIP: "198.51.100.23", Limit: 100}, ""},
		{"count-user-10m", Query{Since: last.Add(-10 * time.Minute)}, "user"},
		{"count-sourceip-10m", Query{Since: last.Add(-10 * time.Minute)}, "sourceip"},
		{"count-user-10m-allstages", Query{Since: last.Add(-10 * time.Minute), AllStages: true}, "user"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if bc.by != "" {
					_, err = ix.Count(ctx, bc.q, bc.by)
				} else {
					_, err = ix.Query(ctx, bc.q)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
