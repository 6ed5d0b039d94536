package admission

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/policy"
)

// PodsResource is the core pods resource.
var PodsResource = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// InventoryResources are the resources the built-in library's templates
// read from data.inventory: namespaces (for namespaceSelector), pods (exec
// and attach, BW-K8S-006), service accounts (BW-K8S-005), roles and
// cluster roles (BW-K8S-004), disruption budgets (BW-K8S-020), network
// policies (BW-K8S-028), ingresses (BW-K8S-026) and trivy-operator's
// vulnerability reports (BW-K8S-015) when their CRDs are installed.
func InventoryResources() []schema.GroupVersionResource {
	return []schema.GroupVersionResource{
		{Version: "v1", Resource: "namespaces"},
		PodsResource,
		{Version: "v1", Resource: "serviceaccounts"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
		{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"},
		{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"},
		{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
		{Group: "aquasecurity.github.io", Version: "v1alpha1", Resource: "vulnerabilityreports"},
		{Group: "aquasecurity.github.io", Version: "v1alpha1", Resource: "clustervulnerabilityreports"},
		{Group: "aquasecurity.github.io", Version: "v1alpha1", Resource: "imagevulnerabilityreports"},
	}
}

// flushInterval batches inventory changes: each write to the engine's
// store waits for reviews in flight, so changes are applied together.
const flushInterval = 100 * time.Millisecond

// Inventory keeps the engine's data.inventory equal to the cluster's
// objects of a set of resources, fed by watches, so that templates that
// read other objects (the pod of an exec, the namespace's NetworkPolicies,
// the other Ingresses) see the cluster as it is. Run it once; Ready
// reports when the first full listing is in the engine.
type Inventory struct {
	eng       *policy.Engine
	watch     *Watcher
	resources []schema.GroupVersionResource
	metrics   *Metrics
	log       *slog.Logger

	mu      sync.Mutex
	pending map[string]change
	known   map[string]bool
	podsInf cache.SharedIndexInformer
	ready   atomic.Bool
}

type change struct {
	obj    *k8s.Object
	delete bool
}

// NewInventory returns an inventory of resources (InventoryResources when
// nil) fed into eng.
func NewInventory(eng *policy.Engine, w *Watcher, resources []schema.GroupVersionResource, m *Metrics, log *slog.Logger) *Inventory {
	if resources == nil {
		resources = InventoryResources()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Inventory{
		eng: eng, watch: w, resources: resources, metrics: m,
		log:     log.With("component", "inventory"),
		pending: map[string]change{},
		known:   map[string]bool{},
	}
}

// Ready reports whether the first listing of every resource is in the
// engine.
func (inv *Inventory) Ready() bool { return inv.ready.Load() }

// Run watches the resources and applies their changes to the engine until
// ctx ends.
func (inv *Inventory) Run(ctx context.Context) error {
	var served []schema.GroupVersionResource
	err := eventually(ctx, inv.log, "discover inventory resources", func(context.Context) error {
		served = inv.watch.Served(inv.resources)
		if len(served) == 0 {
			return fmt.Errorf("the API server serves none of the %d inventory resources", len(inv.resources))
		}
		return nil
	})
	if err != nil {
		return nil // ctx ended
	}
	for _, gvr := range served {
		inf := inv.watch.Informer(gvr)
		if gvr == PodsResource {
			inv.mu.Lock()
			inv.podsInf = inf
			inv.mu.Unlock()
		}
		_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { inv.enqueue(o, false) },
			UpdateFunc: func(_, o any) { inv.enqueue(o, false) },
			DeleteFunc: func(o any) { inv.enqueue(o, true) },
		})
		if err != nil {
			return fmt.Errorf("inventory: watch %s: %w", gvr, err)
		}
	}
	inv.watch.Start(ctx)
	if err := inv.watch.WaitForSync(ctx, served); err != nil {
		return nil // ctx ended before the first listing
	}
	if err := inv.flush(ctx); err != nil {
		inv.log.Error("inventory_update_failed", "error", err)
	}
	inv.ready.Store(true)
	inv.log.Info("inventory_synced", "resources", len(served), "objects", inv.count())
	tick := time.NewTicker(flushInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := inv.flush(ctx); err != nil {
				inv.log.Error("inventory_update_failed", "error", err)
			}
		}
	}
}

func key(o *k8s.Object) string {
	return strings.Join([]string{o.APIVersion(), o.Kind(), o.Namespace(), o.Name()}, "/")
}

func (inv *Inventory) enqueue(o any, del bool) {
	obj, ok := objectOf(o)
	if !ok {
		return
	}
	inv.mu.Lock()
	inv.pending[key(obj)] = change{obj: obj, delete: del}
	inv.mu.Unlock()
}

func (inv *Inventory) count() int {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return len(inv.known)
}

// flush applies the pending changes to the engine in one write.
func (inv *Inventory) flush(ctx context.Context) error {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if len(inv.pending) == 0 {
		return nil
	}
	var put, del []*k8s.Object
	for k, c := range inv.pending {
		if c.delete {
			del = append(del, c.obj)
			delete(inv.known, k)
		} else {
			put = append(put, c.obj)
			inv.known[k] = true
		}
	}
	inv.pending = map[string]change{}
	if inv.metrics != nil {
		inv.metrics.inventory.Set(float64(len(inv.known)))
	}
	return inv.eng.UpdateInventory(ctx, put, del)
}

// EnsurePod makes sure the pod namespace/name is in the engine's inventory
// before an exec or attach into it is judged. A pod the watch has already
// delivered is flushed now; one it has not seen yet (created a moment
// ago) is read from the API server. It reports whether the pod exists.
func (inv *Inventory) EnsurePod(ctx context.Context, namespace, name string) (bool, error) {
	inv.mu.Lock()
	pods := inv.podsInf
	inv.mu.Unlock()
	if pods != nil {
		if _, exists, err := pods.GetStore().GetByKey(namespace + "/" + name); err == nil && exists {
			return true, inv.flush(ctx)
		}
	}
	u, err := inv.watch.Client.Resource(PodsResource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, _ = stripManagedFields(u)
	obj := &k8s.Object{Content: u.Object}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.known[key(obj)] = true
	return true, inv.eng.UpdateInventory(ctx, []*k8s.Object{obj}, nil)
}

var _ PodLoader = (*Inventory)(nil)
