package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// kubectlTimeout bounds a kubectl run whose context has no deadline.
const kubectlTimeout = time.Minute

// Kubectl runs bin/kubectl as the admin with args and returns what it
// printed. A non-zero exit is an error naming the command and quoting its
// stderr.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	return c.KubectlAs(ctx, AdminUser, args...)
}

// KubectlAs runs bin/kubectl as user (one of the token file's users).
func (c *Cluster) KubectlAs(ctx context.Context, user string, args ...string) (stdout, stderr string, err error) {
	return c.kubectl(ctx, user, nil, args)
}

// Apply runs `kubectl apply -f -` as the admin with manifest (YAML or JSON,
// one or more documents) on its standard input.
func (c *Cluster) Apply(ctx context.Context, manifest string) error {
	_, _, err := c.kubectl(ctx, AdminUser, strings.NewReader(manifest), []string{"apply", "-f", "-"})
	return err
}

// CreateNamespace creates (or updates) namespace name with labels, and its
// default ServiceAccount, which nothing else creates when no
// controller-manager runs. Pods need it to be admitted. When a
// controller-manager does run, its serviceaccount controller may create the
// ServiceAccount first; that is not an error.
func (c *Cluster) CreateNamespace(ctx context.Context, name string, labels map[string]string) error {
	ns := corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
	}
	b, err := yaml.Marshal(ns)
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	if err := c.Apply(ctx, string(b)); err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	_, stderr, err := c.Kubectl(ctx, "create", "serviceaccount", "default", "--namespace", name)
	if err != nil && !strings.Contains(stderr, `serviceaccounts "default" already exists`) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

func (c *Cluster) kubectl(ctx context.Context, user string, stdin io.Reader, args []string) (string, string, error) {
	config := c.configs[user]
	if config == "" {
		return "", "", fmt.Errorf("kubectl %s: no kubeconfig for user %q", strings.Join(args, " "), user)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, kubectlTimeout)
		defer cancel()
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, c.bin.kubectl, args...)
	cmd.Stdin = stdin
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = kubectlEnv(config, filepath.Join(c.dir, "home"))
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("kubectl %s (as %s): %w: %s", strings.Join(args, " "), user, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), stderr.String(), err
}

// kubectlEnv is the environment without the caller's kubeconfig and kubectl
// preferences: kubectl sees only the cluster's kubeconfig, and a home of its
// own for its discovery cache.
func kubectlEnv(kubeconfig, home string) []string {
	env := []string{"KUBECONFIG=" + kubeconfig, "HOME=" + home, "KUBERC=off"}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "KUBECONFIG", name == "HOME", name == "KUBERC", name == "KUBECACHEDIR",
			strings.HasPrefix(name, "KUBECTL_"):
			continue
		}
		env = append(env, kv)
	}
	return env
}

// Eventually calls fn every interval until it returns nil, ctx ends or
// timeout passes, and then returns fn's last error.
func Eventually(ctx context.Context, timeout, interval time.Duration, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %s: %w", timeout, err)
		case <-tick.C:
		}
	}
}
