package detect

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// benchMix is a realistic mix of audit traffic, per 100 events: mostly
// node leases, reads and watches by the cluster's own components, some
// workload changes, and a few events that raise alerts.
var benchMix = []struct {
	event  string
	weight int
}{
	{"lease-update", 30}, {"configmap-get", 15}, {"pod-watch", 10}, {"pod-list", 10},
	{"anonymous-readyz", 5}, {"secret-list-kubelet", 5}, {"pod-benign", 5}, {"secret-get-controller", 3},
	{"deployment-benign", 2}, {"service-clusterip", 2}, {"pod-daemonset-controller", 2}, {"pod-list-via-proxy", 2},
	{"rolebinding-view", 1}, {"exec-started", 1}, {"exec-complete", 1}, {"pod-privileged", 1},
	{"secret-get", 1}, {"clusterrolebinding-cluster-admin", 1}, {"webhook-bulwark-cert-rotation", 1},
	{"namespace-create", 1}, {"service-loadbalancer-public", 1},
}

// loadMix returns the mix as JSON lines, compact as the API server writes
// them.
func loadMix(b *testing.B) [][]byte {
	b.Helper()
	var lines [][]byte
	total := 0
	for _, m := range benchMix {
		data, err := os.ReadFile(filepath.Join("testdata", "events", m.event+".json"))
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, data); err != nil {
			b.Fatal(err)
		}
		for range m.weight {
			lines = append(lines, buf.Bytes())
		}
		total += m.weight
	}
	if total != 100 {
		b.Fatalf("mix weights add up to %d", total)
	}
	// Interleave deterministically so consecutive events differ.
	out := make([][]byte, len(lines))
	for i := range lines {
		out[(i*37)%len(lines)] = lines[i]
	}
	return out
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEvaluateDefaultRules decodes and evaluates a realistic mix of
// events against every default rule (BW-DET-012 enabled). It reports
// events per second of wall time and per second of process CPU time; run
// it with -cpu 1 for the one-core figure.
func BenchmarkEvaluateDefaultRules(b *testing.B) {
	e, err := LoadDefaultRules(officeOpts)
	if err != nil {
		b.Fatal(err)
	}
	lines := loadMix(b)
	b.Run("decode+evaluate", func(b *testing.B) {
		b.ReportAllocs()
		alerts := 0
		cpu0 := cpuTime()
		i := 0
		for b.Loop() {
			ev, err := audit.Decode(lines[i%len(lines)])
			if err != nil {
				b.Fatal(err)
			}
			alerts += len(e.Evaluate(ev))
			i++
		}
		cpu := cpuTime() - cpu0
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		if cpu > 0 {
			b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
		}
		if i >= len(lines) && alerts == 0 {
			b.Fatal("the mix raised no alert")
		}
	})
	b.Run("evaluate", func(b *testing.B) {
		evs := make([]*audit.Event, len(lines))
		for i, l := range lines {
			if evs[i], err = audit.Decode(l); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			e.Evaluate(evs[i%len(evs)])
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
