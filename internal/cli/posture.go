package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/internal/controls"
	"github.com/bulwark-k8s/bulwark/internal/posture"
	"github.com/bulwark-k8s/bulwark/internal/report"
)

type postureFlags struct {
	config      string
	output      string
	failOn      string
	parameters  []string
	maxFileSize int64
}

// defaultPostureMaxFileSize bounds each input: Terraform plans of large
// estates run to tens of megabytes.
const defaultPostureMaxFileSize = 128 << 20

func newPostureCommand(s Streams) *cobra.Command {
	f := &postureFlags{}
	cmd := &cobra.Command{
		Use:   "posture FILE...",
		Short: "Check AKS cluster configuration (az aks show, ARM template, Terraform plan) against the baseline",
		Long: `Checks the configuration of Azure Kubernetes Service clusters against the
secure-cluster baseline (the BW-AKS-* checks) and prints the compliance report.

Inputs, detected by their shape (a directory stands for its .json files):
  az aks show / az aks list -o json              the live cluster
  an Azure REST managedCluster resource           az rest, Resource Graph
  an ARM template or resource-group export        before deploy (--parameters)
  terraform show -json <plan>                     before apply
  az monitor diagnostic-settings list -o json     kube-audit destination
  az k8s-extension list -o json                   GitOps (Flux) extension
  az resource list -o json                        regions and public IPs

A setting an input does not give (a missing field, an ARM expression known
only at deployment, a Terraform value known only after apply) makes its check
"not assessed", naming the field; it is never counted as a pass.

Exit status: 0 when no finding is at or above --fail-on, 1 when one is, 2 on
a usage or input error.`,
		Example: `  az aks show -g rg -n aks -o json > aks.json
  az monitor diagnostic-settings list --resource $(az aks show -g rg -n aks --query id -o tsv) -o json > diag.json
  bulwark posture aks.json diag.json --config bulwark.yaml

  terraform show -json plan.tfplan > plan.json && bulwark posture plan.json -o sarif
  bulwark posture azuredeploy.json --parameters azuredeploy.parameters.json`,
		Args: argsAtLeast(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := report.CheckFormat(f.output); err != nil {
				return usageError(err)
			}
			failOn, err := controls.ParseSeverity(f.failOn)
			if err != nil {
				return usageError(fmt.Errorf("--fail-on: %w", err))
			}
			cfg, err := loadConfig(f.config)
			if err != nil {
				return usageError(err)
			}
			if err := posture.ValidateConfig(cfg); err != nil {
				return usageError(fmt.Errorf("config: %w", err))
			}
			limit := f.maxFileSize
			if limit <= 0 {
				limit = defaultPostureMaxFileSize
			}
			var opts []posture.Option
			for _, p := range f.parameters {
				data, err := postureReadFile(p, s.In, limit)
				if err != nil {
					return usageError(err)
				}
				params, err := posture.ParseParameters(p, data)
				if err != nil {
					return usageError(err)
				}
				opts = append(opts, posture.WithParameters(params))
			}
			inputs, err := readPostureInputs(args, s.In, limit, opts)
			if err != nil {
				return usageError(err)
			}
			findings, cov := posture.Evaluate(inputs, cfg)
			cat, err := controls.NewCatalog(posture.Checks()...)
			if err != nil {
				return err
			}
			objects := 0
			for _, in := range inputs {
				objects += in.Objects()
			}
			rep := &report.Report{
				Tool:     "bulwark",
				Version:  Version,
				Inputs:   args,
				Objects:  objects,
				Summary:  controls.Summarize(cat, cov, findings),
				Findings: findings,
				Catalog:  cat,
			}
			if err := report.Write(s.Out, f.output, rep); err != nil {
				return err
			}
			worst := controls.Info
			for _, fd := range findings {
				if fd.Severity > worst {
					worst = fd.Severity
				}
			}
			if len(findings) > 0 && worst >= failOn {
				return &ExitError{Code: ExitFindings}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "bulwark.yaml (regions.allowed, publicExposure.allowedResourceGroups, checks.<id>); built-in defaults when absent")
	fl.StringVarP(&f.output, "output", "o", "table", "output format: table, json, sarif, junit")
	fl.StringVar(&f.failOn, "fail-on", "high", "exit 1 when a finding is at or above this severity: info, low, medium, high, critical, none")
	fl.StringArrayVar(&f.parameters, "parameters", nil, "ARM deployment parameters file for the templates (repeatable; later files win)")
	fl.Int64Var(&f.maxFileSize, "max-file-size", defaultPostureMaxFileSize, "largest input file read, in bytes")
	return cmd
}

// readPostureInputs parses every file (directories: their .json files,
// skipping those of no posture shape; "-": standard input). All errors
// are reported together.
func readPostureInputs(paths []string, stdin io.Reader, limit int64, opts []posture.Option) ([]*posture.Input, error) {
	var inputs []*posture.Input
	var errs []error
	for _, p := range paths {
		files, dir, err := postureFiles(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		found := 0
		for _, file := range files {
			data, err := postureReadFile(file, stdin, limit)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if dir && !posture.Sniff(data) {
				if _, err := posture.Parse(file, data, opts...); err != nil {
					var se *posture.SyntaxError
					if errors.As(err, &se) {
						errs = append(errs, err)
					}
				}
				continue
			}
			in, err := posture.Parse(file, data, opts...)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			found++
			inputs = append(inputs, in)
		}
		if dir && found == 0 {
			errs = append(errs, fmt.Errorf("%s: no posture input among its .json files", p))
		}
	}
	return inputs, errors.Join(errs...)
}

// postureFiles lists the files a path stands for.
func postureFiles(p string) (files []string, dir bool, err error) {
	if p == "-" {
		return []string{"-"}, false, nil
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", p, postureUnwrapPath(err))
	}
	if !info.IsDir() {
		return []string{p}, false, nil
	}
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", path, postureUnwrapPath(err))
		}
		if d.IsDir() {
			if path != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.EqualFold(filepath.Ext(path), ".json") {
			files = append(files, path)
		}
		return nil
	})
	return files, true, err
}

func postureReadFile(file string, stdin io.Reader, limit int64) ([]byte, error) {
	var r io.Reader
	if file == "-" {
		if stdin == nil {
			return nil, fmt.Errorf("-: no standard input")
		}
		r = stdin
	} else {
		fh, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, postureUnwrapPath(err))
		}
		defer fh.Close()
		r = fh
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes (raise --max-file-size)", file, limit)
	}
	return data, nil
}

func postureUnwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
