package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// binaries are the absolute paths of the programs a cluster runs.
type binaries struct {
	etcd, apiserver, controllerManager, kubectl string
}

// missingHint is appended to every error about a missing binary.
const missingHint = "run `make testcluster` in the repository root to install etcd and build bin/kube-apiserver, bin/kube-controller-manager and bin/kubectl"

// findBinaries locates the control plane's programs: the Kubernetes ones in
// the bin/ directory beside the go.mod found by walking up from dir, etcd on
// PATH. It reports every missing program at once.
func findBinaries(dir string) (binaries, error) {
	root, err := moduleRoot(dir)
	if err != nil {
		return binaries{}, err
	}
	var (
		b    binaries
		errs []error
	)
	for _, f := range []struct {
		dst  *string
		name string
	}{
		{&b.apiserver, "kube-apiserver"},
		{&b.controllerManager, "kube-controller-manager"},
		{&b.kubectl, "kubectl"},
	} {
		p := filepath.Join(root, "bin", f.name)
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			errs = append(errs, fmt.Errorf("find %s: no executable %s", f.name, p))
			continue
		}
		*f.dst = p
	}
	if p, err := exec.LookPath("etcd"); err != nil {
		errs = append(errs, fmt.Errorf("find etcd on PATH: %w", err))
	} else {
		b.etcd = p
	}
	if len(errs) > 0 {
		return binaries{}, fmt.Errorf("%w\n%s", errors.Join(errs...), missingHint)
	}
	return b, nil
}

// moduleRoot returns the nearest directory at or above dir holding a go.mod.
func moduleRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find module root from %s: %w", dir, err)
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("find module root from %s: no go.mod in it or any parent", dir)
		}
		d = parent
	}
}
