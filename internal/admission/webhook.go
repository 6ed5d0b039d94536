package admission

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

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
	// AuditInterval is the period of the background audit (with a
	// cluster); zero turns it off.
	AuditInterval time.Duration
	// LeaderElection, when set, runs the audit in one replica only: the
	// holder of this Lease.
	LeaderElection *LeaderElection
	Metrics        *Metrics
	Logger         *slog.Logger
}

// LeaderElection names the Lease the replicas compete for.
type LeaderElection struct {
	Namespace, Name string
	// Identity of this replica (its pod name).
	Identity string
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
	audit     *Audit
	election  *LeaderElection
	client    kubernetes.Interface
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
		if w.client, err = kubernetes.NewForConfig(opts.Cluster); err != nil {
			return nil, fmt.Errorf("admission webhook: client: %w", err)
		}
		w.election = opts.LeaderElection
	}
	w.handler = NewHandler(hopts)
	if w.watch != nil && opts.AuditInterval > 0 {
		w.audit = &Audit{Engine: opts.Engine, Watch: w.watch, Interval: opts.AuditInterval,
			Exempt: w.handler.ExemptNamespace, Metrics: opts.Metrics, Logger: log}
	}
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
	errs := make([]error, 3)
	wg.Go(func() { errs[0] = w.inventory.Run(ctx) })
	wg.Go(func() { errs[1] = w.policies.Run(ctx) })
	if w.audit != nil {
		wg.Go(func() { errs[2] = w.runAudit(ctx) })
	}
	wg.Wait()
	w.watch.Shutdown()
	return errors.Join(errs...)
}

// runAudit runs the background audit once the inventory and the policies
// are loaded (so that it judges with them), in the leader only when
// leader election is on.
func (w *Webhook) runAudit(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	for w.Ready() != nil {
		select {
		case <-ctx.Done():
			tick.Stop()
			return nil
		case <-tick.C:
		}
	}
	tick.Stop()
	if w.election == nil {
		return w.audit.Run(ctx)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: w.election.Namespace, Name: w.election.Name},
		Client:     w.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: w.election.Identity},
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: lock, ReleaseOnCancel: true,
			LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					w.log.Info("audit_leader", "identity", w.election.Identity)
					_ = w.audit.Run(ctx)
				},
				OnStoppedLeading: func() { w.log.Info("audit_leadership_lost", "identity", w.election.Identity) },
			},
			Name: "bulwark-audit",
		})
		if err != nil {
			return fmt.Errorf("audit leader election: %w", err)
		}
		le.Run(ctx)
	}
	return nil
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
