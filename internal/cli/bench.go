package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/policy/bench"
)

func newBenchCommand(s Streams) *cobra.Command {
	var (
		files       []string
		iterations  int
		concurrency int
		output      string
		withLibrary bool
	)
	cmd := &cobra.Command{
		Use:   "bench -f PATH...",
		Short: "Measure how fast policies review objects (like gator bench)",
		Long: `Loads ConstraintTemplates, constraints and objects from the given paths,
reviews every object against every constraint --iterations times, and prints
reviews per second, latency percentiles and the violations found per
iteration, so policy authors can measure their own policies.`,
		Example: `  bulwark bench -f templates/ -f constraints/ -f objects/ --iterations 100
  bulwark bench -f deploy.yaml --library -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usageError(fmt.Errorf("-f is required"))
			}
			if iterations < 1 || concurrency < 1 {
				return usageError(fmt.Errorf("--iterations and --concurrency must be at least 1"))
			}
			if output != "text" && output != "json" {
				return usageError(fmt.Errorf("unknown output format %q (want text or json)", output))
			}
			res, err := bench.Run(cmd.Context(), bench.Options{
				Paths:       files,
				Loader:      k8s.Loader{Stdin: s.In},
				Iterations:  iterations,
				Concurrency: concurrency,
				Library:     withLibrary,
			})
			if err != nil {
				return usageError(err)
			}
			if output == "json" {
				enc := json.NewEncoder(s.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			fmt.Fprintf(s.Out, "templates: %d  constraints: %d  objects: %d  iterations: %d  concurrency: %d\n",
				res.Templates, res.Constraints, res.Objects, iterations, concurrency)
			fmt.Fprintf(s.Out, "reviews: %d in %s\n", res.Reviews, res.Duration)
			fmt.Fprintf(s.Out, "reviews/s: %.1f\n", res.ReviewsPerSecond)
			fmt.Fprintf(s.Out, "latency per review: p50 %.3f ms  p95 %.3f ms  p99 %.3f ms\n", res.P50Ms, res.P95Ms, res.P99Ms)
			fmt.Fprintf(s.Out, "violations per iteration: %d\n", res.ViolationsPerIteration)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "file or directory of templates, constraints and objects (repeatable)")
	cmd.Flags().IntVar(&iterations, "iterations", 100, "times every object is reviewed")
	cmd.Flags().IntVar(&concurrency, "concurrency", 1, "reviews in parallel")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json")
	cmd.Flags().BoolVar(&withLibrary, "library", false, "also load the built-in policy library with its default configuration")
	return cmd
}
