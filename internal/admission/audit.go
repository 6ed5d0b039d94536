package admission

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/policy"
)

// PolicyReport resources (wgpolicyk8s.io/v1alpha2).
var (
	PolicyReportsResource        = schema.GroupVersionResource{Group: "wgpolicyk8s.io", Version: "v1alpha2", Resource: "policyreports"}
	ClusterPolicyReportsResource = schema.GroupVersionResource{Group: "wgpolicyk8s.io", Version: "v1alpha2", Resource: "clusterpolicyreports"}
)

// MaxReportBytes bounds one report's JSON: etcd takes objects up to about
// 1.5 MiB, and 1 MB leaves room for the API server's own fields.
const MaxReportBytes = 1_000_000

// reportLabel marks the reports the audit owns.
const reportLabel = "app.kubernetes.io/managed-by"

// AuditedResources are the resources the background audit reviews (those
// of AuditResources that can be listed).
func AuditedResources() []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	for _, r := range AuditResources() {
		for _, res := range r.Resources {
			out = append(out, schema.GroupVersionResource{Group: r.APIGroups[0], Version: versionOf(r.APIGroups[0]), Resource: res})
		}
	}
	return out
}

func versionOf(group string) string {
	switch group {
	case "":
		return "v1"
	case "aquasecurity.github.io":
		return "v1alpha1"
	}
	return "v1"
}

// Audit reviews the cluster's existing objects, as the watches keep them
// (no re-listing), every Interval, and writes what violates policy as
// PolicyReports (one per namespace) and ClusterPolicyReports (cluster-scoped
// objects), split so that none is over MaxReportBytes. A report is written
// only when its results changed.
type Audit struct {
	Engine *policy.Engine
	Watch  *Watcher
	// Interval between cycles; the first runs once the watches have listed.
	Interval time.Duration
	// Exempt reports whether a namespace is left out (the handler's
	// exemption).
	Exempt  func(namespace string) bool
	Metrics *Metrics
	Logger  *slog.Logger

	cycles  atomic.Int64
	written map[string]string // report key -> hash of its content
	known   map[string]bool   // reports written in the last cycle
}

// Cycles returns how many audit cycles completed.
func (a *Audit) Cycles() int64 { return a.cycles.Load() }

// Run audits until ctx ends.
func (a *Audit) Run(ctx context.Context) error {
	log := a.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "audit")
	a.written, a.known = map[string]string{}, map[string]bool{}
	served := a.Watch.Served(AuditedResources())
	for _, gvr := range served {
		a.Watch.Informer(gvr)
	}
	a.Watch.Start(ctx)
	if err := a.Watch.WaitForSync(ctx, served); err != nil {
		return nil
	}
	canWrite := len(a.Watch.Served([]schema.GroupVersionResource{PolicyReportsResource, ClusterPolicyReportsResource})) == 2
	if !canWrite {
		log.Warn("policy_reports_not_served", "reason", "wgpolicyk8s.io CRDs not installed (deploy/crds): violations are counted in metrics only")
	}
	for {
		start := time.Now()
		reports, objects, err := a.cycle(ctx, served)
		if err == nil && canWrite {
			err = a.write(ctx, reports, log)
		}
		if err != nil && ctx.Err() == nil {
			log.Error("audit_failed", "error", err)
		}
		d := time.Since(start)
		if a.Metrics != nil {
			a.Metrics.audits.Observe(d.Seconds())
		}
		a.cycles.Add(1)
		log.Info("audit_cycle", "objects", objects, "reports", len(reports), "duration", d.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(a.Interval):
		}
	}
}

// report is one PolicyReport or ClusterPolicyReport to write.
type report struct {
	namespace string // "" for a ClusterPolicyReport
	name      string
	results   []map[string]any
	summary   map[string]any
}

func (r *report) key() string { return r.namespace + "/" + r.name }

// cycle reviews every object in the watches' caches and groups the
// violations into reports.
func (a *Audit) cycle(ctx context.Context, served []schema.GroupVersionResource) ([]*report, int, error) {
	byScope := map[string][]map[string]any{}
	passed := map[string]int{}
	found := map[[2]string]int{}
	objects := 0
	now := time.Now()
	for _, gvr := range served {
		for _, item := range a.Watch.Informer(gvr).GetStore().List() {
			if ctx.Err() != nil {
				return nil, objects, ctx.Err()
			}
			u, ok := item.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			o := &k8s.Object{Content: u.Object}
			ns := o.Namespace()
			if a.Exempt != nil && (a.Exempt(ns) || (o.IsNamespace() && a.Exempt(o.Name()))) {
				continue
			}
			objects++
			results, _, err := a.Engine.ReviewObject(ctx, o)
			if err != nil && ctx.Err() != nil {
				return nil, objects, ctx.Err()
			}
			if len(results) == 0 {
				passed[ns]++
				continue
			}
			for _, r := range results {
				found[[2]string{r.Constraint.Check.ID, r.EnforcementAction}]++
				byScope[ns] = append(byScope[ns], result(r, u, now))
			}
		}
	}
	if a.Metrics != nil {
		a.Metrics.auditFound.Reset()
		for k, n := range found {
			a.Metrics.auditFound.WithLabelValues(k[0], k[1]).Set(float64(n))
		}
	}
	var out []*report
	scopes := make([]string, 0, len(byScope))
	for ns := range byScope {
		scopes = append(scopes, ns)
	}
	sort.Strings(scopes)
	for _, ns := range scopes {
		out = append(out, splitReports(ns, byScope[ns], passed[ns])...)
	}
	return out, objects, nil
}

// result is one PolicyReport result for violation r of object u.
func result(r policy.Result, u *unstructured.Unstructured, now time.Time) map[string]any {
	ch := r.Constraint.Check
	res := "fail"
	if r.EnforcementAction == policy.ActionWarn {
		res = "warn"
	}
	return map[string]any{
		"source":    "bulwark",
		"policy":    ch.ID,
		"rule":      r.Constraint.Kind + "/" + r.Constraint.Name,
		"category":  strings.Join(ch.Requirements, ","),
		"severity":  ch.Severity.String(),
		"result":    res,
		"scored":    true,
		"message":   Message(r),
		"timestamp": map[string]any{"seconds": now.Unix(), "nanos": 0},
		"properties": map[string]any{
			"enforcementAction": r.EnforcementAction,
			"title":             ch.Title,
		},
		"resources": []any{map[string]any{
			"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(), "namespace": u.GetNamespace(),
			"name": u.GetName(), "uid": string(u.GetUID()),
		}},
	}
}

// splitReports puts results into as many reports as it takes to keep each
// under MaxReportBytes: bulwark-audit, bulwark-audit-1, ...
func splitReports(ns string, results []map[string]any, passed int) []*report {
	const overhead = 4096 // metadata, summary, the API server's fields
	var out []*report
	cur := &report{namespace: ns}
	size := overhead
	for _, r := range results {
		b, _ := json.Marshal(r)
		if size+len(b)+1 > MaxReportBytes && len(cur.results) > 0 {
			out = append(out, cur)
			cur = &report{namespace: ns}
			size = overhead
		}
		cur.results = append(cur.results, r)
		size += len(b) + 1
	}
	out = append(out, cur)
	for i, r := range out {
		r.name = "bulwark-audit"
		if i > 0 {
			r.name += "-" + strconv.Itoa(i)
		}
		fail, warn := 0, 0
		for _, res := range r.results {
			if res["result"] == "warn" {
				warn++
			} else {
				fail++
			}
		}
		p := 0
		if i == 0 {
			p = passed
		}
		r.summary = map[string]any{"pass": p, "fail": fail, "warn": warn, "error": 0, "skip": 0}
	}
	return out
}

// write creates or updates the reports whose content changed, and deletes
// the audit's reports that are no longer needed.
func (a *Audit) write(ctx context.Context, reports []*report, log *slog.Logger) error {
	want := map[string]bool{}
	var firstErr error
	for _, r := range reports {
		want[r.key()] = true
		h := contentHash(r)
		if a.written[r.key()] == h {
			continue
		}
		if err := a.put(ctx, r); err != nil {
			log.Error("report_write_failed", "report", r.key(), "error", err)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		a.written[r.key()] = h
	}
	// Reports of earlier cycles (or an earlier bulwark) not wanted now.
	sel := metav1.ListOptions{LabelSelector: reportLabel + "=bulwark"}
	for _, gvr := range []schema.GroupVersionResource{PolicyReportsResource, ClusterPolicyReportsResource} {
		list, err := a.Watch.Client.Resource(gvr).List(ctx, sel)
		if err != nil {
			return err
		}
		for _, item := range list.Items {
			k := item.GetNamespace() + "/" + item.GetName()
			if want[k] {
				continue
			}
			var err error
			if item.GetNamespace() == "" {
				err = a.Watch.Client.Resource(gvr).Delete(ctx, item.GetName(), metav1.DeleteOptions{})
			} else {
				err = a.Watch.Client.Resource(gvr).Namespace(item.GetNamespace()).Delete(ctx, item.GetName(), metav1.DeleteOptions{})
			}
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			delete(a.written, k)
		}
	}
	return firstErr
}

// contentHash identifies a report's content apart from timestamps.
func contentHash(r *report) string {
	h := sha256.New()
	b, _ := json.Marshal(r.summary)
	h.Write(b)
	for _, res := range r.results {
		c := make(map[string]any, len(res))
		for k, v := range res {
			if k != "timestamp" {
				c[k] = v
			}
		}
		b, _ := json.Marshal(c)
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (a *Audit) put(ctx context.Context, r *report) error {
	gvr, kind := PolicyReportsResource, "PolicyReport"
	if r.namespace == "" {
		gvr, kind = ClusterPolicyReportsResource, "ClusterPolicyReport"
	}
	results := make([]any, len(r.results))
	for i, res := range r.results {
		results[i] = res
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvr.GroupVersion().String(),
		"kind":       kind,
		"metadata": map[string]any{
			"name":   r.name,
			"labels": map[string]any{reportLabel: "bulwark"},
		},
		"summary": r.summary,
		"results": results,
	}}
	if r.namespace != "" {
		obj.SetNamespace(r.namespace)
	}
	b, err := json.Marshal(obj.Object)
	if err != nil {
		return err
	}
	if len(b) > MaxReportBytes {
		return fmt.Errorf("report %s is %d bytes, over %d", r.key(), len(b), MaxReportBytes)
	}
	ri := a.Watch.Client.Resource(gvr)
	var api interface {
		Get(context.Context, string, metav1.GetOptions, ...string) (*unstructured.Unstructured, error)
		Create(context.Context, *unstructured.Unstructured, metav1.CreateOptions, ...string) (*unstructured.Unstructured, error)
		Update(context.Context, *unstructured.Unstructured, metav1.UpdateOptions, ...string) (*unstructured.Unstructured, error)
	} = ri
	if r.namespace != "" {
		api = ri.Namespace(r.namespace)
	}
	cur, err := api.Get(ctx, r.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, obj, metav1.CreateOptions{})
	case err == nil:
		obj.SetResourceVersion(cur.GetResourceVersion())
		_, err = api.Update(ctx, obj, metav1.UpdateOptions{})
	}
	return err
}
