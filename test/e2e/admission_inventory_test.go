//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bulwark-k8s/bulwark/internal/admission"
	"github.com/bulwark-k8s/bulwark/test/e2e/cluster"
)

// TestInventoryLoadsPodOnDemand judges an exec into a privileged pod that
// the inventory's watch has not delivered (here: pods are not watched at
// all), so the pod is read from the API server when the CONNECT review
// needs it; a pod that does not exist is left to the API server's 404.
func TestInventoryLoadsPodOnDemand(t *testing.T) {
	ctx := t.Context()
	c := cluster.Start(ctx, t, cluster.Options{})
	if err := c.CreateNamespace(ctx, "ops", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(ctx, `apiVersion: v1
kind: Pod
metadata: {name: node-shell, namespace: ops}
spec:
  containers: [{name: shell, image: busybox, securityContext: {privileged: true}}]
`); err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	eng := libraryEngineForE2E(t)
	inv := admission.NewInventory(eng, admission.NewWatcher(dyn, disc, nil),
		[]schema.GroupVersionResource{{Version: "v1", Resource: "namespaces"}}, nil, nil)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = inv.Run(runCtx) }()
	if err := cluster.Eventually(ctx, time.Minute, 100*time.Millisecond, func(context.Context) error {
		if !inv.Ready() {
			return errNotYet("inventory not synced")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h := admission.NewHandler(admission.Options{Engine: eng, Pods: inv})
	review := func(name string) (bool, string) {
		t.Helper()
		return validateConnect(t, h, "ops", name)
	}
	if allowed, msg := review("node-shell"); allowed || !strings.Contains(msg, `[BW-K8S-006 REQ-05a] exec into pod "node-shell" is denied: container "shell" is privileged`) {
		t.Errorf("exec into a privileged pod the watch never saw: allowed=%v %s", allowed, msg)
	}
	if allowed, msg := review("absent"); !allowed {
		t.Errorf("exec into a missing pod denied: %s", msg)
	}
}
