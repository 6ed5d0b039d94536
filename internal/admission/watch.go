package admission

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// resyncPeriod is zero: watches deliver every change, and nothing here
// needs a periodic replay of the cache.
const resyncPeriod = 0

// Watcher shares one watch (informer) per resource among the parts of
// bulwark serve that follow cluster objects: the inventory, the policies
// and the background audit. Informer returns the shared informer of a
// resource; Start starts those not started yet and may be called again
// after more are requested. Objects are cached without managedFields.
type Watcher struct {
	Client    dynamic.Interface
	Discovery discovery.DiscoveryInterface
	factory   dynamicinformer.DynamicSharedInformerFactory
	log       *slog.Logger

	mu        sync.Mutex
	informers map[schema.GroupVersionResource]cache.SharedIndexInformer
}

// NewWatcher returns a watcher over client.
func NewWatcher(client dynamic.Interface, disc discovery.DiscoveryInterface, log *slog.Logger) *Watcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{
		Client:    client,
		Discovery: disc,
		factory:   dynamicinformer.NewDynamicSharedInformerFactory(client, resyncPeriod),
		log:       log.With("component", "watch"),
		informers: map[schema.GroupVersionResource]cache.SharedIndexInformer{},
	}
}

// Informer returns the shared informer of gvr, creating it.
func (w *Watcher) Informer(gvr schema.GroupVersionResource) cache.SharedIndexInformer {
	w.mu.Lock()
	defer w.mu.Unlock()
	if inf, ok := w.informers[gvr]; ok {
		return inf
	}
	inf := w.factory.ForResource(gvr).Informer()
	_ = inf.SetTransform(stripManagedFields) // fails only once started, and it is new
	_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		w.log.Warn("watch_failed", "resource", gvr.String(), "error", err)
	})
	w.informers[gvr] = inf
	return inf
}

// Start starts every informer requested so far; they stop when ctx ends.
func (w *Watcher) Start(ctx context.Context) { w.factory.Start(ctx.Done()) }

// Shutdown waits for the informers to stop after their context ended.
func (w *Watcher) Shutdown() { w.factory.Shutdown() }

// Served returns the resources among want that the API server serves,
// and logs those it does not (a CRD not installed).
func (w *Watcher) Served(want []schema.GroupVersionResource) []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	byGV := map[string]map[string]bool{}
	for _, gvr := range want {
		gv := gvr.GroupVersion().String()
		names, ok := byGV[gv]
		if !ok {
			names = map[string]bool{}
			list, err := w.Discovery.ServerResourcesForGroupVersion(gv)
			if err == nil {
				for _, r := range list.APIResources {
					names[r.Name] = true
				}
			}
			byGV[gv] = names
		}
		if names[gvr.Resource] {
			out = append(out, gvr)
			continue
		}
		w.log.Info("resource_not_served", "resource", gvr.String())
	}
	return out
}

// WaitForSync waits until the informers of gvrs have listed their
// resource, or ctx ends.
func (w *Watcher) WaitForSync(ctx context.Context, gvrs []schema.GroupVersionResource) error {
	var synced []cache.InformerSynced
	for _, gvr := range gvrs {
		synced = append(synced, w.Informer(gvr).HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("wait for the watches of %d resources to list: %w", len(gvrs), ctx.Err())
	}
	return nil
}

// stripManagedFields drops metadata.managedFields, which no policy reads
// and which is often the largest part of an object.
func stripManagedFields(o any) (any, error) {
	if u, ok := o.(*unstructured.Unstructured); ok {
		if md, ok := u.Object["metadata"].(map[string]any); ok {
			delete(md, "managedFields")
		}
	}
	return o, nil
}

// objectOf returns the object an informer event carries, unwrapping the
// final state of a deletion the watch missed.
func objectOf(o any) (*k8s.Object, bool) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	u, ok := o.(*unstructured.Unstructured)
	if !ok {
		return nil, false
	}
	return &k8s.Object{Content: u.Object}, true
}

// eventually calls fn until it succeeds or ctx ends, waiting longer after
// each failure (up to a minute).
func eventually(ctx context.Context, log *slog.Logger, what string, fn func(context.Context) error) error {
	wait := 500 * time.Millisecond
	for {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		log.Warn("retrying", "what", what, "error", err, "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, time.Minute)
	}
}
