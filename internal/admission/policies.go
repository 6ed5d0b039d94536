package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/policy"
)

// TemplatesResource is Gatekeeper's ConstraintTemplate resource.
var TemplatesResource = schema.GroupVersionResource{Group: policy.TemplateGroup, Version: "v1", Resource: "constrainttemplates"}

// constraintVersion is the version constraints are read in.
const constraintVersion = "v1beta1"

// managedByLabel marks the constraint CRDs bulwark created, and may delete.
const managedByLabel = "app.kubernetes.io/managed-by"

// Policies keeps the engine's templates and constraints equal to the
// cluster's ConstraintTemplates and constraints: for each template it
// compiles it, creates the constraint CRD
// (<lowercase kind>.constraints.gatekeeper.sh, with the template's
// parameter schema) as Gatekeeper does, and watches that kind's
// constraints; a deleted template takes its constraints and (when bulwark
// created it) its CRD along. Templates and constraints from files
// (bulwark.yaml's policies, --policy) and the built-in library stay.
type Policies struct {
	eng     *policy.Engine
	watch   *Watcher
	crds    apiextensionsclient.Interface
	metrics *Metrics
	log     *slog.Logger
	podName string

	mu    sync.Mutex
	names map[string]string           // template name -> kind, once compiled
	kinds map[string]*constraintWatch // kind -> its constraints' watch
	work  chan string
	ready atomic.Bool
}

type constraintWatch struct {
	informer cache.SharedIndexInformer
	stop     context.CancelFunc
	done     chan struct{}
}

// NewPolicies returns the watcher of the cluster's policies.
func NewPolicies(eng *policy.Engine, w *Watcher, crds apiextensionsclient.Interface, m *Metrics, log *slog.Logger) *Policies {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pod, _ := os.Hostname()
	if n := os.Getenv("POD_NAME"); n != "" {
		pod = n
	}
	return &Policies{
		eng: eng, watch: w, crds: crds, metrics: m, podName: pod,
		log:   log.With("component", "policies"),
		names: map[string]string{},
		kinds: map[string]*constraintWatch{},
		work:  make(chan string, 1024),
	}
}

// Ready reports whether the cluster's templates, and the constraints of
// each, have been loaded once.
func (p *Policies) Ready() bool {
	if !p.ready.Load() {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, cw := range p.kinds {
		if !cw.informer.HasSynced() {
			return false
		}
	}
	return true
}

// Run watches templates until ctx ends. Without the ConstraintTemplate CRD
// it is ready at once and looks for the CRD every 30 seconds.
func (p *Policies) Run(ctx context.Context) error {
	defer p.stopAll()
	// Without the CRD there is nothing to load: ready, and look for it
	// again every 30s.
	for len(p.watch.Served([]schema.GroupVersionResource{TemplatesResource})) == 0 {
		if !p.ready.Load() {
			p.log.Info("no_constraint_templates", "reason", "constrainttemplates.templates.gatekeeper.sh is not served (install deploy/crds)")
			p.ready.Store(true)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(30 * time.Second):
		}
	}
	p.ready.Store(false)
	inf := p.watch.Informer(TemplatesResource)
	enqueue := func(o any) {
		if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
			o = d.Obj
		}
		if u, ok := o.(*unstructured.Unstructured); ok {
			select {
			case p.work <- u.GetName():
			case <-ctx.Done():
			}
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, o any) { enqueue(o) },
		DeleteFunc: enqueue,
	}); err != nil {
		return fmt.Errorf("policies: watch templates: %w", err)
	}
	p.watch.Start(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil
	}
	// The initial listing is queued; process it before declaring ready.
	initial := len(inf.GetStore().ListKeys())
	for i := 0; i < initial; i++ {
		select {
		case name := <-p.work:
			p.sync(ctx, inf.GetStore(), name)
		case <-ctx.Done():
			return nil
		}
	}
	p.ready.Store(true)
	p.log.Info("policies_synced", "templates", initial)
	for {
		select {
		case <-ctx.Done():
			return nil
		case name := <-p.work:
			p.sync(ctx, inf.GetStore(), name)
		}
	}
}

// sync brings the engine in line with template name's current state.
func (p *Policies) sync(ctx context.Context, store cache.Store, name string) {
	item, exists, err := store.GetByKey(name)
	if err != nil {
		p.log.Error("template_read_failed", "template", name, "error", err)
		return
	}
	if !exists {
		p.removeTemplate(ctx, name)
		return
	}
	u := item.(*unstructured.Unstructured)
	obj := &k8s.Object{Content: u.DeepCopy().Object}
	t, err := p.eng.AddTemplate(ctx, obj)
	if t == nil && err != nil {
		p.count("template", "error")
		p.log.Error("template_rejected", "template", name, "error", err)
		p.writeStatus(ctx, u, err)
		return
	}
	if err != nil { // compiled; some constraints no longer fit its schema
		p.log.Warn("template_constraints_removed", "template", name, "error", err)
	}
	p.count("template", "added")
	p.mu.Lock()
	p.names[name] = t.Kind
	p.mu.Unlock()
	if err := p.ensureCRD(ctx, u, t); err != nil {
		p.log.Error("constraint_crd_failed", "template", name, "kind", t.Kind, "error", err)
		p.writeStatus(ctx, u, err)
		return
	}
	p.watchConstraints(ctx, t.Kind)
	p.log.Info("template_loaded", "template", name, "kind", t.Kind)
	p.writeStatus(ctx, u, nil)
}

func (p *Policies) removeTemplate(ctx context.Context, name string) {
	p.mu.Lock()
	kind, ok := p.names[name]
	delete(p.names, name)
	cw := p.kinds[kind]
	delete(p.kinds, kind)
	p.mu.Unlock()
	if !ok {
		return
	}
	if cw != nil {
		cw.stop()
		<-cw.done
	}
	p.eng.RemoveTemplate(kind)
	p.count("template", "removed")
	p.log.Info("template_removed", "template", name, "kind", kind)
	crdName := strings.ToLower(kind) + "." + policy.ConstraintGroup
	crd, err := p.crds.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crdName, metav1.GetOptions{})
	if err != nil || crd.Labels[managedByLabel] != "bulwark" {
		return
	}
	if err := p.crds.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, crdName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		p.log.Error("constraint_crd_delete_failed", "crd", crdName, "error", err)
	}
}

// ConstraintCRD is the CustomResourceDefinition of a template's
// constraints, as Gatekeeper creates it: cluster-scoped kind in
// constraints.gatekeeper.sh, served as v1beta1 (stored), v1alpha1 and v1,
// spec.parameters validated by the template's schema.
func ConstraintCRD(template map[string]any, kind string) (*apiextensionsv1.CustomResourceDefinition, error) {
	params := apiextensionsv1.JSONSchemaProps{XPreserveUnknownFields: ptr(true)}
	if raw, ok := dig(template, "spec", "crd", "spec", "validation", "openAPIV3Schema").(map[string]any); ok {
		b, err := json.Marshal(raw)
		if err != nil {
			return nil, err
		}
		var s apiextensionsv1.JSONSchemaProps
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("parameter schema: %w", err)
		}
		if s.Type == "" {
			s.Type = "object"
		}
		params = s
	}
	preserve := apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr(true)}
	schemaProps := &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
		Type: "object",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"apiVersion": {Type: "string"},
			"kind":       {Type: "string"},
			"metadata": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
				"name": {Type: "string", MaxLength: ptr(int64(63))},
			}},
			"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
				"match":                    preserve,
				"enforcementAction":        {Type: "string"},
				"scopedEnforcementActions": {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &preserve}},
				"parameters":               params,
			}},
			"status": preserve,
		},
	}}
	plural := strings.ToLower(kind)
	version := func(name string, storage bool) apiextensionsv1.CustomResourceDefinitionVersion {
		return apiextensionsv1.CustomResourceDefinitionVersion{
			Name: name, Served: true, Storage: storage, Schema: schemaProps,
			Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
			AdditionalPrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{
				{Name: "Enforcement-Action", Type: "string", JSONPath: ".spec.enforcementAction"},
				{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"},
			},
		}
	}
	return &apiextensionsv1.CustomResourceDefinition{
		TypeMeta: metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{
			Name:   plural + "." + policy.ConstraintGroup,
			Labels: map[string]string{managedByLabel: "bulwark", "gatekeeper.sh/constraint": "yes"},
		},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: policy.ConstraintGroup,
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Kind: kind, ListKind: kind + "List", Plural: plural, Singular: plural,
				Categories: []string{"constraint", "constraints"},
			},
			Scope:    apiextensionsv1.ClusterScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{version("v1beta1", true), version("v1alpha1", false), version("v1", false)},
		},
	}, nil
}

// ensureCRD creates or updates the template's constraint CRD and waits
// until it is established.
func (p *Policies) ensureCRD(ctx context.Context, u *unstructured.Unstructured, t *policy.Template) error {
	want, err := ConstraintCRD(u.Object, t.Kind)
	if err != nil {
		return err
	}
	api := p.crds.ApiextensionsV1().CustomResourceDefinitions()
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := api.Get(ctx, want.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = api.Create(ctx, want, metav1.CreateOptions{})
			if err != nil && apierrors.IsInvalid(err) {
				// A schema the API server will not take as a CRD's (not
				// structural): the engine still validates parameters.
				p.log.Warn("constraint_crd_schema_relaxed", "crd", want.Name, "error", err)
				for i := range want.Spec.Versions {
					spec := want.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["spec"]
					spec.Properties["parameters"] = apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr(true)}
					want.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["spec"] = spec
				}
				_, err = api.Create(ctx, want, metav1.CreateOptions{})
			}
			return err
		}
		if err != nil {
			return err
		}
		if cur.Labels[managedByLabel] != "bulwark" {
			return nil // Gatekeeper's, or the user's: leave it
		}
		cur.Spec.Versions = want.Spec.Versions
		cur.Spec.Names = want.Spec.Names
		_, err = api.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("constraint CRD %s: %w", want.Name, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cur, err := api.Get(ctx, want.Name, metav1.GetOptions{})
		if err == nil {
			for _, c := range cur.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("constraint CRD %s not established after 30s", want.Name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// watchConstraints starts the watch of kind's constraints, once.
func (p *Policies) watchConstraints(ctx context.Context, kind string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.kinds[kind]; ok {
		return
	}
	gvr := schema.GroupVersionResource{Group: policy.ConstraintGroup, Version: constraintVersion, Resource: strings.ToLower(kind)}
	inf := dynamicinformer.NewFilteredDynamicInformer(p.watch.Client, gvr, "", resyncPeriod, cache.Indexers{}, nil).Informer()
	_ = inf.SetTransform(stripManagedFields)
	add := func(o any) {
		obj, ok := objectOf(o)
		if !ok {
			return
		}
		c := &k8s.Object{Content: obj.Content}
		if _, err := p.eng.AddConstraint(c); err != nil {
			p.count("constraint", "error")
			p.log.Error("constraint_rejected", "kind", kind, "name", c.Name(), "error", err)
			return
		}
		p.count("constraint", "added")
		p.log.Info("constraint_loaded", "kind", kind, "name", c.Name())
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    add,
		UpdateFunc: func(_, o any) { add(o) },
		DeleteFunc: func(o any) {
			if obj, ok := objectOf(o); ok {
				p.eng.RemoveConstraint(kind, obj.Name())
				p.count("constraint", "removed")
				p.log.Info("constraint_removed", "kind", kind, "name", obj.Name())
			}
		},
	})
	cctx, cancel := context.WithCancel(ctx)
	cw := &constraintWatch{informer: inf, stop: cancel, done: make(chan struct{})}
	p.kinds[kind] = cw
	go func() {
		defer close(cw.done)
		inf.RunWithContext(cctx)
	}()
}

func (p *Policies) stopAll() {
	p.mu.Lock()
	kinds := p.kinds
	p.kinds = map[string]*constraintWatch{}
	p.mu.Unlock()
	for _, cw := range kinds {
		cw.stop()
		<-cw.done
	}
}

// writeStatus records in the template's status, as Gatekeeper does per
// pod, whether this replica compiled it.
func (p *Policies) writeStatus(ctx context.Context, u *unstructured.Unstructured, failure error) {
	entry := map[string]any{"id": p.podName, "observedGeneration": u.GetGeneration(), "operations": []any{"audit", "webhook"}}
	if failure != nil {
		entry["errors"] = []any{map[string]any{"code": "ingest_error", "message": failure.Error()}}
	}
	api := p.watch.Client.Resource(TemplatesResource)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := api.Get(ctx, u.GetName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		status, _ := cur.Object["status"].(map[string]any)
		if status == nil {
			status = map[string]any{}
		}
		byPod, _ := status["byPod"].([]any)
		kept := []any{entry}
		for _, e := range byPod {
			if m, ok := e.(map[string]any); ok && m["id"] != p.podName {
				kept = append(kept, e)
			}
		}
		status["byPod"] = kept
		status["created"] = failure == nil
		cur.Object["status"] = status
		_, err = api.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil && ctx.Err() == nil {
		p.log.Warn("template_status_failed", "template", u.GetName(), "error", err)
	}
}

func (p *Policies) count(kind, result string) {
	if p.metrics != nil {
		p.metrics.policies.WithLabelValues(kind, result).Inc()
	}
}

// dig walks nested maps.
func dig(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}
