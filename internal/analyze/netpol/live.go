package netpol

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

const listPageSize = 500

// FromCluster lists a live cluster's namespaces, NetworkPolicies, pod
// controllers and pods (as objects for Parse: pods and ReplicaSets whose
// controller is listed stand for nothing more than their controller).
func FromCluster(ctx context.Context, c kubernetes.Interface) ([]*k8s.Object, error) {
	var out []*k8s.Object
	type lister struct {
		apiVersion, kind string
		list             func(metav1.ListOptions) (items []runtime.Object, next string, err error)
	}
	listers := []lister{
		{"v1", "Namespace", func(o metav1.ListOptions) ([]runtime.Object, string, error) {
			l, err := c.CoreV1().Namespaces().List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return ptrs(l.Items), l.Continue, nil
		}},
		{"networking.k8s.io/v1", "NetworkPolicy", func(o metav1.ListOptions) ([]runtime.Object, string, error) {
			l, err := c.NetworkingV1().NetworkPolicies("").List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return ptrs(l.Items), l.Continue, nil
		}},
		{"apps/v1", "Deployment", func(o metav1.ListOptions) ([]runtime.Object, string, error) {
			l, err := c.AppsV1().Deployments("").List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return ptrs(l.Items), l.Continue, nil
		}},
		{"apps/v1", "StatefulSet", func(o metav1.ListOptions) ([]runtime.Object, string, error) {
			l, err := c.AppsV1().StatefulSets("").List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return ptrs(l.Items), l.Continue, nil
		}},
		{"apps/v1", "DaemonSet", func(o metav1.ListOptions) ([]runtime.Object, string, error) {
			l, err := c.AppsV1().DaemonSets("").List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return ptrs(l.Items), l.Continue, nil
		}},
		{"apps/v1", "ReplicaSet", func(o metav1.ListOptions) ([]runtime.Object, string, error) {
			l, err := c.AppsV1().ReplicaSets("").List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return ptrs(l.Items), l.Continue, nil
		}},
		{"batch/v1", "CronJob", func(o metav1.ListOptions) ([]runtime.Object, string, error) {
			l, err := c.BatchV1().CronJobs("").List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return ptrs(l.Items), l.Continue, nil
		}},
		{"batch/v1", "Job", func(o metav1.ListOptions) ([]runtime.Object, string, error) {
			l, err := c.BatchV1().Jobs("").List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return ptrs(l.Items), l.Continue, nil
		}},
		{"v1", "ReplicationController", func(o metav1.ListOptions) ([]runtime.Object, string, error) {
			l, err := c.CoreV1().ReplicationControllers("").List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return ptrs(l.Items), l.Continue, nil
		}},
		{"v1", "Pod", func(o metav1.ListOptions) ([]runtime.Object, string, error) {
			l, err := c.CoreV1().Pods("").List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return ptrs(l.Items), l.Continue, nil
		}},
	}
	for _, l := range listers {
		opts := metav1.ListOptions{Limit: listPageSize}
		for {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			items, next, err := l.list(opts)
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", l.kind, err)
			}
			for _, it := range items {
				m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(it)
				if err != nil {
					return nil, fmt.Errorf("convert %s: %w", l.kind, err)
				}
				m["apiVersion"], m["kind"] = l.apiVersion, l.kind
				if md, ok := m["metadata"].(map[string]any); ok {
					delete(md, "managedFields")
				}
				out = append(out, &k8s.Object{Content: m})
			}
			if next == "" {
				break
			}
			opts.Continue = next
		}
	}
	return out, nil
}

// ptrs returns pointers to the items of a typed list as runtime.Objects.
func ptrs[T any](items []T) []runtime.Object {
	out := make([]runtime.Object, 0, len(items))
	for i := range items {
		if o, ok := any(&items[i]).(runtime.Object); ok {
			out = append(out, o)
		}
	}
	return out
}
