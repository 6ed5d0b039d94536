package admission

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/bulwark-k8s/bulwark/internal/policy"
)

// WebhookOptions configure the admission part of bulwark serve.
type WebhookOptions struct {
	// Engine is the engine scan would build from the same configuration.
	Engine *policy.Engine
	// Handler configures /validate and /mutate; its Engine, Pods and
	// Metrics are filled in.
	Handler Options
	// Cluster connects to the API server; nil runs without one: no
	// inventory (exec and attach into pods are not judged), no policies
	// from the cluster, no background audit.
	Cluster *rest.Config
	Metrics *Metrics
	Logger  *slog.Logger
}

// Webhook is the admission component of bulwark serve: the handlers, the
// inventory that keeps the engine current while they serve, and the
// ConstraintTemplates and constraints watched from the cluster.
// Register its handlers, then Run it; Ready says when it can judge
// requests as the cluster is.
type Webhook struct {
	handler   *Handler
	watch     *Watcher
	inventory *Inventory
	policies  *Policies
	log       *slog.Logger
}

// NewWebhook assembles the component.
func NewWebhook(opts WebhookOptions) (*Webhook, error) {
	if opts.Engine == nil {
		return nil, errors.New("admission webhook: no policy engine")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Webhook{log: log}
	hopts := opts.Handler
	hopts.Engine = opts.Engine
	hopts.Metrics = opts.Metrics
	hopts.Logger = log
	if opts.Cluster != nil {
		client, err := dynamic.NewForConfig(opts.Cluster)
		if err != nil {
			return nil, fmt.Errorf("admission webhook: cluster client: %w", err)
		}
		disc, err := discovery.NewDiscoveryClientForConfig(opts.Cluster)
		if err != nil {
			return nil, fmt.Errorf("admission webhook: discovery client: %w", err)
		}
		crds, err := apiextensionsclient.NewForConfig(opts.Cluster)
		if err != nil {
			return nil, fmt.Errorf("admission webhook: CRD client: %w", err)
		}
		w.watch = NewWatcher(client, disc, log)
		w.inventory = NewInventory(opts.Engine, w.watch, nil, opts.Metrics, log)
		w.policies = NewPolicies(opts.Engine, w.watch, crds, opts.Metrics, log)
		hopts.Pods = w.inventory
	}
	w.handler = NewHandler(hopts)
	return w, nil
}

// Register mounts /validate and /mutate on mux.
func (w *Webhook) Register(mux *http.ServeMux) { w.handler.Register(mux) }

// Run keeps the engine current until ctx ends, then waits for its
// watches to stop.
func (w *Webhook) Run(ctx context.Context) error {
	if w.watch == nil {
		<-ctx.Done()
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = w.inventory.Run(ctx) })
	wg.Go(func() { errs[1] = w.policies.Run(ctx) })
	wg.Wait()
	w.watch.Shutdown()
	return errors.Join(errs...)
}

// Ready returns nil once the inventory holds the cluster's objects.
func (w *Webhook) Ready() error {
	if w.inventory != nil && !w.inventory.Ready() {
		return errors.New("admission: inventory not synced yet")
	}
	if w.policies != nil && !w.policies.Ready() {
		return errors.New("admission: policies from the cluster not loaded yet")
	}
	return nil
}
