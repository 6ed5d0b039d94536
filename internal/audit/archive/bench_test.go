package archive

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkAppend measures the archive end to end: Append (journal write,
// chain, fsync) of batches of 100 events of about 1.5 KB, with Run sealing
// (gzip) and uploading to a file:// bucket meanwhile, and Close sealing
// and uploading the rest, all in the timed region. One op is one batch.
// Run with -cpu 1 for the figure on one core.
//
//	go test ./internal/audit/archive -run '^$' -bench Append -benchtime 4000x -cpu 1,2
func BenchmarkAppend(b *testing.B) {
	const batch = 100
	pool := testEvents(0, 4096)
	size := 0
	for _, ev := range pool[:batch] {
		size += len(ev)
	}
	for _, writers := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			dir := b.TempDir()
			a, err := Open(context.Background(), Options{URL: "file://" + filepath.Join(dir, "archive"), JournalDir: filepath.Join(dir, "journal")})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- a.Run(ctx) }()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			var wg sync.WaitGroup
			var mu sync.Mutex
			n := 0
			for w := range writers {
				wg.Go(func() {
					for i := w; ; i++ {
						mu.Lock()
						if n >= b.N {
							mu.Unlock()
							return
						}
						n++
						mu.Unlock()
						k := (i * batch) % (len(pool) - batch)
						if _, err := a.Append(ctx, pool[k:k+batch]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			appended := time.Since(start)
			cancel()
			<-done
			if err := a.Close(); err != nil {
				b.Fatal(err)
			}
			total, cpu := time.Since(start), cpuTime()-cpu0
			b.StopTimer()
			events := float64(b.N * batch)
			b.ReportMetric(events/appended.Seconds(), "appended_events/s")
			b.ReportMetric(events/total.Seconds(), "archived_events/s")
			// CPU of the whole process (Append, sealing, uploading) per
			// event: 1e6 / cpu_µs/event is what one core sustains.
			b.ReportMetric(float64(cpu.Microseconds())/events, "cpu_µs/event")
			if st, err := dirSize(filepath.Join(dir, "archive", "segments")); err == nil && st > 0 {
				b.ReportMetric(float64(b.N*size)/float64(st), "compression")
			}
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	return n, err
}
