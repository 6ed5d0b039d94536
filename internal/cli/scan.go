package cli

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/scan"
)

type scanFlags struct {
	reportFlags
	config      string
	policies    []string
	noLibrary   bool
	maxFileSize int64
}

func newScanCommand(s Streams, logger func() *slog.Logger) *cobra.Command {
	f := &scanFlags{}
	cmd := &cobra.Command{
		Use:   "scan PATH...",
		Short: "Check manifests against the baseline and print the compliance report",
		Long: `Scans Kubernetes manifests (files, directories, or - for standard input; YAML
or JSON; Lists; Helm or kustomize output piped in) against the built-in policy
library and any ConstraintTemplates and constraints among the inputs or in
--policy, and prints a compliance summary per requirement followed by the
findings grouped by requirement.

Exit status: 0 when no finding is at or above --fail-on, 1 when one is, 2 on
a usage or input error.`,
		Example: `  bulwark scan examples/workshop/insecure --config examples/workshop/bulwark.yaml
  helm template ./chart | bulwark scan - -o sarif > bulwark.sarif
  bulwark scan manifests/ --policy my-gatekeeper-policies/ --fail-on critical`,
		Args: argsAtLeast(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			failOn, err := f.threshold()
			if err != nil {
				return err
			}
			limitMemory()
			cfg, err := loadConfig(f.config)
			if err != nil {
				return usageError(err)
			}
			res, err := scan.Run(cmd.Context(), scan.Options{
				Paths:     args,
				Policies:  f.policies,
				Config:    cfg,
				Loader:    k8s.Loader{Stdin: s.In, MaxFileSize: f.maxFileSize},
				NoLibrary: f.noLibrary,
				Logger:    logger(),
			})
			if err != nil {
				return usageError(err)
			}
			exit := f.write(s, res.Report(Version, args), failOn)
			if len(res.Errors) > 0 {
				for _, e := range res.Errors {
					fmt.Fprintf(s.Err, "error: %v\n", e)
				}
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%d objects could not be fully evaluated", len(res.Errors))}
			}
			return exit
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "bulwark.yaml (apiVersion bulwark.dev/v1alpha1, kind Config); built-in defaults when absent")
	f.bind(fl)
	fl.StringArrayVar(&f.policies, "policy", nil, "file or directory of ConstraintTemplates and constraints to add (repeatable)")
	fl.BoolVar(&f.noLibrary, "no-library", false, "do not load the built-in policy library (only --policy and policies among the inputs)")
	fl.Int64Var(&f.maxFileSize, "max-file-size", k8s.DefaultMaxFileSize, "largest manifest file read, in bytes")
	return cmd
}
