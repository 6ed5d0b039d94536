package index

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkAdd indexes realistic events (about 1.5 KB each, two stages
// per request) in batches of 500, into an index that grows through the
// run as it does in service. b.N counts events.
func BenchmarkAdd(b *testing.B) {
	const batch = 500
	events := genEvents(b, 100_000, true)
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
