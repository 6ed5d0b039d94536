package cli

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/policy"
	"github.com/bulwark-k8s/bulwark/internal/policy/verify"
)

func newVerifyCommand(s Streams) *cobra.Command {
	var run string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "verify PATH...",
		Short: "Run policy test suites (gator verify format)",
		Long: `Runs test suites in OPA Gatekeeper's gator verify format: files of kind Suite
(apiVersion test.gatekeeper.sh/v1alpha1) found in the given files and
directories. Each test pairs a ConstraintTemplate with a constraint; each case
reviews one object or AdmissionReview and asserts on the violations. Exits 1
when any case fails, 2 when the suites cannot be read.`,
		Example: `  bulwark verify policies/
  bulwark verify --run 'allowed-repos/.*disallowed' suite.yaml`,
		Args: argsAtLeast(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r := &verify.Runner{
				Loader:    k8s.Loader{Stdin: s.In},
				NewEngine: func() *policy.Engine { return policy.New() },
				Out:       s.Out,
				Verbose:   !quiet,
			}
			if run != "" {
				re, err := regexp.Compile(run)
				if err != nil {
					return usageError(fmt.Errorf("--run: %w", err))
				}
				r.Filter = re
			}
			_, err := r.Run(cmd.Context(), args...)
			switch {
			case errors.Is(err, verify.ErrFailed):
				return &ExitError{Code: ExitFindings}
			case err != nil:
				return usageError(err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&run, "run", "", "run only tests and cases whose test/case name matches this regular expression")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print failing cases only")
	return cmd
}
