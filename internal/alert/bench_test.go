package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRouterSyslogTCP measures alerts per second through the whole
// router (dedup, route, disk spool with fsync, delivery goroutine, CEF
// and RFC 5424 formatting, octet-counted TCP) to a syslog receiver on
// loopback, and the enqueue-to-delivery latency: from the call to
// Router.Send to the receiver reading the message.
//
//   - parallel: 16 goroutines each send one alert per call, as fast as
//     they can (the spool's group commit shares fsyncs between them);
//   - send=100: one goroutine sends batches of 100;
//   - paced: one alert every 2ms (500/s), the latency an alert sees
//     when the router is not saturated;
//   - memory/parallel: as parallel, with the memory queue (no fsync).
//
// Under saturation the latency includes the queueing of a backlog.
func BenchmarkRouterSyslogTCP(b *testing.B) {
	for _, bc := range []struct {
		name    string
		mode    string
		perSend int
		memory  bool
	}{
		{name: "disk/parallel", mode: "parallel", perSend: 1},
		{name: "disk/send=100", mode: "batch", perSend: 100},
		{name: "disk/paced=500", mode: "paced", perSend: 1},
		{name: "memory/parallel", mode: "parallel", perSend: 1, memory: true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchRouter(b, bc.mode, bc.perSend, bc.memory)
		})
	}
}

func benchRouter(b *testing.B, mode string, perSend int, memory bool) {
	n := b.N * perSend
	sent := make([]int64, n)
	recv := make([]int64, n)
	var received atomic.Int64
	srv := startSyslogServer(b, "tcp", nil, false)
	srv.onMsg = func(msg []byte) {
		now := time.Now().UnixNano()
		i := bytes.Index(msg, []byte(`id="bench-`))
		if i < 0 {
			return
		}
		rest := msg[i+len(`id="bench-`):]
		seq, err := strconv.Atoi(string(rest[:bytes.IndexByte(rest, '"')]))
		if err != nil || seq >= n {
			return
		}
		atomic.StoreInt64(&recv[seq], now)
		received.Add(1)
	}
	spool := SpoolConfig{Dir: b.TempDir()}
	if memory {
		spool = SpoolConfig{Memory: true}
	}
	cfg := Config{Cluster: "bench", Spool: spool, Sinks: []SinkConfig{{Name: "siem", Type: "syslog", BatchSize: 500,
		Syslog: &SyslogConfig{Network: "tcp", Address: srv.addr}}}}
	r, err := Build(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		r.Close()
	}()

	template := execAlert()
	mk := func(seq int) Alert {
		a := template
		a.ID = "bench-" + strconv.Itoa(seq)
		return a
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	switch mode {
	case "parallel":
		var next atomic.Int64
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				seq := int(next.Add(1) - 1)
				atomic.StoreInt64(&sent[seq], time.Now().UnixNano())
				if err := r.Send(ctx, mk(seq)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	case "batch":
		batch := make([]Alert, perSend)
		for i := 0; i < b.N; i++ {
			now := time.Now().UnixNano()
			for j := range batch {
				seq := i*perSend + j
				batch[j] = mk(seq)
				sent[seq] = now
			}
			if err := r.Send(ctx, batch...); err != nil {
				b.Fatal(err)
			}
		}
	case "paced":
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < b.N; i++ {
			<-tick.C
			sent[i] = time.Now().UnixNano()
			if err := r.Send(ctx, mk(i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(time.Minute)
	for received.Load() < int64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("received %d of %d", received.Load(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	lat := make([]float64, 0, n)
	for i := range n {
		lat = append(lat, float64(atomic.LoadInt64(&recv[i])-atomic.LoadInt64(&sent[i]))/1e6)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "alerts/s")
	b.ReportMetric(lat[len(lat)/2], "p50-ms")
	b.ReportMetric(lat[len(lat)*99/100], "p99-ms")
}

// BenchmarkFormat measures the per-alert cost of each wire format.
func BenchmarkFormat(b *testing.B) {
	a := execAlert()
	h := rfc5424{facility: 16, hostname: "node", appName: "bulwark", procID: "1", sdID: "bulwark@32473", format: "cef", version: "1"}
	ocsf := OCSFEncoder("1")
	for _, bc := range []struct {
		name string
		fn   func(buf []byte) []byte
	}{
		{"rfc5424+cef", func(buf []byte) []byte { return h.appendMessage(buf[:0], &a) }},
		{"ecs", func(buf []byte) []byte { d, _ := json.Marshal(ecsFor(&a, "1")); return d }},
		{"ocsf", func(buf []byte) []byte { d, _ := ocsf(&a); return d }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf = bc.fn(buf)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}
