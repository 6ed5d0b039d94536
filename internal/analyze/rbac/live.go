package rbac

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
)

// listPageSize bounds each list call against a live cluster.
const listPageSize = 500

// FromCluster lists the roles, cluster roles and bindings of a live cluster
// and builds a snapshot with their rules as stored (the cluster's
// aggregation controller has resolved aggregated roles already).
func FromCluster(ctx context.Context, c kubernetes.Interface) (*Snapshot, error) {
	var (
		roles    []*Role
		bindings []*Binding
	)
	err := pages(ctx, func(opts metav1.ListOptions) (string, error) {
		l, err := c.RbacV1().ClusterRoles().List(ctx, opts)
		if err != nil {
			return "", fmt.Errorf("list clusterroles: %w", err)
		}
		for i := range l.Items {
			r := &l.Items[i]
			roles = append(roles, &Role{Kind: "ClusterRole", Name: r.Name, Labels: r.Labels, Rules: r.Rules, Aggregation: r.AggregationRule})
		}
		return l.Continue, nil
	})
	if err != nil {
		return nil, err
	}
	err = pages(ctx, func(opts metav1.ListOptions) (string, error) {
		l, err := c.RbacV1().Roles("").List(ctx, opts)
		if err != nil {
			return "", fmt.Errorf("list roles: %w", err)
		}
		for i := range l.Items {
			r := &l.Items[i]
			roles = append(roles, &Role{Kind: "Role", Namespace: r.Namespace, Name: r.Name, Labels: r.Labels, Rules: r.Rules})
		}
		return l.Continue, nil
	})
	if err != nil {
		return nil, err
	}
	err = pages(ctx, func(opts metav1.ListOptions) (string, error) {
		l, err := c.RbacV1().ClusterRoleBindings().List(ctx, opts)
		if err != nil {
			return "", fmt.Errorf("list clusterrolebindings: %w", err)
		}
		for i := range l.Items {
			b := &l.Items[i]
			bindings = append(bindings, &Binding{Kind: "ClusterRoleBinding", Name: b.Name, Labels: b.Labels, RoleRef: b.RoleRef, Subjects: b.Subjects})
		}
		return l.Continue, nil
	})
	if err != nil {
		return nil, err
	}
	err = pages(ctx, func(opts metav1.ListOptions) (string, error) {
		l, err := c.RbacV1().RoleBindings("").List(ctx, opts)
		if err != nil {
			return "", fmt.Errorf("list rolebindings: %w", err)
		}
		for i := range l.Items {
			b := &l.Items[i]
			bindings = append(bindings, &Binding{Kind: "RoleBinding", Namespace: b.Namespace, Name: b.Name, Labels: b.Labels, RoleRef: b.RoleRef, Subjects: b.Subjects})
		}
		return l.Continue, nil
	})
	if err != nil {
		return nil, err
	}
	return New(roles, bindings, LoadOptions{StoredAggregation: true})
}

func pages(ctx context.Context, list func(metav1.ListOptions) (string, error)) error {
	opts := metav1.ListOptions{Limit: listPageSize}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		next, err := list(opts)
		if err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		opts.Continue = next
	}
}

// AddDiscovery registers the resources a live cluster serves (built-in and
// custom) with their subresources. Partial discovery failures (an
// unavailable aggregated API) are ignored; the resources found are added.
func (m *Mapper) AddDiscovery(d discovery.DiscoveryInterface) error {
	_, lists, err := d.ServerGroupsAndResources()
	if len(lists) == 0 && err != nil {
		return fmt.Errorf("discover the cluster's resources: %w", err)
	}
	type key struct{ group, resource string }
	found := map[key]*Resource{}
	var order []key
	names := map[key]metav1.APIResource{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			res, sub, isSub := strings.Cut(r.Name, "/")
			k := key{gv.Group, res}
			cur := found[k]
			if cur == nil {
				cur = &Resource{Group: gv.Group, Resource: res, Namespaced: r.Namespaced}
				found[k] = cur
				order = append(order, k)
			}
			if isSub {
				if !slices.Contains(cur.Subresources, sub) {
					cur.Subresources = append(cur.Subresources, sub)
				}
				continue
			}
			cur.Namespaced = r.Namespaced
			names[k] = r
		}
	}
	for _, k := range order {
		r := found[k]
		slices.Sort(r.Subresources)
		api := names[k]
		m.Add(*r, api.SingularName, api.ShortNames...)
	}
	return nil
}
