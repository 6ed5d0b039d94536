package scan

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/config"
	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/policy"
	"github.com/bulwark-k8s/bulwark/internal/policy/library"
	"github.com/bulwark-k8s/bulwark/internal/scan/synth"
)

// cpuTime is the process's CPU time (user and system, every thread: the
// garbage collector's included). The machine the benchmarks run on is
// shared, so wall time per operation is inflated by other jobs; cpu-ns/op
// is the figure to compare.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func libraryEngine(b *testing.B) *policy.Engine {
	b.Helper()
	lib, err := library.Load()
	if err != nil {
		b.Fatal(err)
	}
	cfg := config.Default()
	cfg.Regions.Allowed = []string{"eastus"}
	cfg.Images.RequireDigestNamespaces = []string{"production"}
	cfg.Ingress.AllowedClasses = []string{"nginx"}
	eng := policy.New()
	if _, err := lib.Install(context.Background(), eng, cfg); err != nil {
		b.Fatal(err)
	}
	return eng
}

// BenchmarkReviewPod reviews one hardened pod against the whole built-in
// library (every constraint that matches a Pod), on one goroutine.
func BenchmarkReviewPod(b *testing.B) {
	eng := libraryEngine(b)
	objs, err := k8s.Loader{}.Load("../../examples/workshop/secure/app-dev.yaml")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := eng.SetInventory(ctx, objs); err != nil {
		b.Fatal(err)
	}
	var deploy *k8s.Object
	for _, o := range objs {
		if o.Kind() == "Deployment" {
			deploy = o
			break
		}
	}
	pod, _ := k8s.ImpliedPod(deploy)
	req := policy.ObjectRequest(pod)
	matched, err := eng.Matching(req)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(matched)), "constraints")
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := eng.Review(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkScan10k scans 10,000 generated objects (load, inventory,
// review, findings) with the whole library.
func BenchmarkScan10k(b *testing.B) {
	var buf bytes.Buffer
	if err := synth.Write(&buf, 10000); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "10k.yaml")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg := config.Default()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		res, err := Run(context.Background(), Options{Paths: []string{path}, Config: cfg})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Objects) != 10000 {
			b.Fatalf("scanned %d objects", len(res.Objects))
		}
		if len(res.Errors) > 0 {
			b.Fatal(res.Errors[0])
		}
		b.ReportMetric(float64(len(res.Findings)), "findings")
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
