// Package bench measures how fast an engine reviews objects: the library
// behind `bulwark bench`, the equivalent of gator bench.
package bench

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/config"
	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/policy"
	"github.com/bulwark-k8s/bulwark/internal/policy/library"
)

// Options configure a benchmark.
type Options struct {
	Paths       []string
	Loader      k8s.Loader
	Iterations  int
	Concurrency int
	// Library adds the built-in library with the default configuration.
	Library bool
}

// Result is the -o json contract of bulwark bench.
type Result struct {
	Templates              int           `json:"templates"`
	Constraints            int           `json:"constraints"`
	Objects                int           `json:"objects"`
	Reviews                int           `json:"reviews"`
	Duration               time.Duration `json:"durationNs"`
	ReviewsPerSecond       float64       `json:"reviewsPerSecond"`
	P50Ms                  float64       `json:"p50Ms"`
	P95Ms                  float64       `json:"p95Ms"`
	P99Ms                  float64       `json:"p99Ms"`
	ViolationsPerIteration int           `json:"violationsPerIteration"`
}

// Run loads the paths and reviews every object Iterations times.
func Run(ctx context.Context, opts Options) (*Result, error) {
	objs, err := opts.Loader.Load(opts.Paths...)
	if err != nil {
		return nil, err
	}
	eng := policy.New()
	if opts.Library {
		lib, err := library.Load()
		if err != nil {
			return nil, err
		}
		if _, err := lib.Install(ctx, eng, config.Default()); err != nil {
			return nil, err
		}
	}
	var targets, constraints []*k8s.Object
	for _, o := range objs {
		switch {
		case policy.IsTemplate(o):
			if _, err := eng.AddTemplate(ctx, o); err != nil {
				return nil, fmt.Errorf("%s: %w", o.Position(), err)
			}
		case policy.IsConstraint(o):
			constraints = append(constraints, o)
		default:
			targets = append(targets, o)
		}
	}
	for _, c := range constraints {
		if _, err := eng.AddConstraint(c); err != nil {
			return nil, fmt.Errorf("%s: %w", c.Position(), err)
		}
	}
	if len(eng.Constraints()) == 0 {
		return nil, errors.New("no constraints to benchmark (give ConstraintTemplates and constraints with -f, or --library)")
	}
	if len(targets) == 0 {
		return nil, errors.New("no objects to review among the inputs")
	}
	if err := eng.SetInventory(ctx, targets); err != nil {
		return nil, err
	}
	res := &Result{Templates: len(eng.Templates()), Constraints: len(eng.Constraints()), Objects: len(targets)}
	total := opts.Iterations * len(targets)
	lat := make([]time.Duration, total)
	viol := make([]int, opts.Iterations)
	var mu sync.Mutex
	var firstErr error
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < opts.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				it, oi := j/len(targets), j%len(targets)
				t0 := time.Now()
				results, _, err := eng.ReviewObject(ctx, targets[oi])
				lat[j] = time.Since(t0)
				mu.Lock()
				viol[it] += len(results)
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", targets[oi].Position(), err)
				}
				mu.Unlock()
			}
		}()
	}
	for j := 0; j < total; j++ {
		if ctx.Err() != nil {
			break
		}
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	res.Reviews = total
	res.ReviewsPerSecond = float64(total) / res.Duration.Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res.P50Ms = ms(percentile(lat, 0.50))
	res.P95Ms = ms(percentile(lat, 0.95))
	res.P99Ms = ms(percentile(lat, 0.99))
	res.ViolationsPerIteration = viol[0]
	return res, nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
