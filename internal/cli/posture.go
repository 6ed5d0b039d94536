package cli

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/internal/controls"
	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/posture"
	"github.com/bulwark-k8s/bulwark/internal/report"
)

type postureFlags struct {
	reportFlags
	config      string
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
			failOn, err := f.threshold()
			if err != nil {
				return err
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
			return f.write(s, rep, failOn)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "bulwark.yaml (regions.allowed, publicExposure.allowedResourceGroups, checks.<id>); built-in defaults when absent")
	f.bind(fl)
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

// postureFiles lists the files a path stands for: the file, "-", or the
// .json files under a directory.
func postureFiles(p string) (files []string, dir bool, err error) {
	all, err := k8s.Files(p)
	if err != nil {
		return nil, false, err
	}
	if len(all) == 1 && all[0] == p {
		return all, false, nil
	}
	for _, f := range all {
		if strings.EqualFold(filepath.Ext(f), ".json") {
			files = append(files, f)
		}
	}
	return files, true, nil
}

func postureReadFile(file string, stdin io.Reader, limit int64) ([]byte, error) {
	return k8s.Loader{Stdin: stdin, MaxFileSize: limit}.ReadFile(file)
}
