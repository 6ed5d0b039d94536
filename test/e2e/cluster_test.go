//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/bulwark-k8s/bulwark/test/e2e/cluster"
)

// podManifest is a pod that never runs (there is no kubelet): enough for
// admission, RBAC and the connect subresources to be exercised.
func podManifest(namespace, name string) string {
	return `apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
  namespace: ` + namespace + `
spec:
  containers:
  - name: app
    image: registry.k8s.io/pause:3.10
`
}

// TestSmoke drives a bare control plane (etcd + kube-apiserver) with the
// real kubectl: namespaces, the default ServiceAccount pods need, pods.
func TestSmoke(t *testing.T) {
	ctx := t.Context()
	c := cluster.Start(ctx, t, cluster.Options{})
	const ns = "smoke"

	t.Run("kubectl create namespace", func(t *testing.T) {
		if _, _, err := c.Kubectl(ctx, "create", "namespace", ns); err != nil {
			t.Fatal(err)
		}
		out, _, err := c.Kubectl(ctx, "get", "namespace", ns, "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var got corev1.Namespace
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("decode namespace %s: %v", ns, err)
		}
		if got.Status.Phase != corev1.NamespaceActive {
			t.Errorf("namespace %s phase = %q, want Active", ns, got.Status.Phase)
		}
	})

	t.Run("pod needs the default ServiceAccount", func(t *testing.T) {
		// Nothing creates it without a controller-manager, and the
		// ServiceAccount admission plugin rejects the pod.
		err := c.Apply(ctx, podManifest(ns, "too-early"))
		if err == nil || !strings.Contains(err.Error(), `serviceaccount "default" not found`) {
			t.Fatalf("apply pod before the default ServiceAccount exists: err = %v, want serviceaccount \"default\" not found", err)
		}
	})

	t.Run("kubectl apply pod", func(t *testing.T) {
		if err := c.CreateNamespace(ctx, ns, map[string]string{"team": "smoke"}); err != nil {
			t.Fatal(err)
		}
		if err := c.Apply(ctx, podManifest(ns, "web")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("kubectl get pods -o json", func(t *testing.T) {
		out, _, err := c.Kubectl(ctx, "get", "pods", "-n", ns, "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var pods corev1.PodList
		if err := json.Unmarshal([]byte(out), &pods); err != nil {
			t.Fatalf("decode pod list: %v", err)
		}
		if len(pods.Items) != 1 {
			t.Fatalf("got %d pods in %s, want 1:\n%s", len(pods.Items), ns, out)
		}
		p := pods.Items[0]
		for _, check := range []struct{ what, got, want string }{
			{"name", p.Name, "web"},
			{"serviceAccountName", p.Spec.ServiceAccountName, "default"},
			{"nodeName", p.Spec.NodeName, ""},
			{"phase", string(p.Status.Phase), string(corev1.PodPending)},
		} {
			if check.got != check.want {
				t.Errorf("pod %s/%s %s = %q, want %q", ns, p.Name, check.what, check.got, check.want)
			}
		}
	})
}

// TestReaderCannotCreate is the seed's requirement "a cluster reader cannot
// create resources", on a real apiserver with RBAC: the reader user bound to
// the built-in view ClusterRole can list pods but not create one, and a user
// bound to nothing can do neither. The view role is aggregated, so the
// controller-manager's clusterrole-aggregation controller runs too.
func TestReaderCannotCreate(t *testing.T) {
	ctx := t.Context()
	c := cluster.Start(ctx, t, cluster.Options{ControllerManager: true})
	const ns = "team"

	err := cluster.Eventually(ctx, time.Minute, 500*time.Millisecond, func(ctx context.Context) error {
		out, _, err := c.Kubectl(ctx, "get", "clusterrole", "view", "-o", "json")
		if err != nil {
			return err
		}
		var role rbacv1.ClusterRole
		if err := json.Unmarshal([]byte(out), &role); err != nil {
			return err
		}
		if len(role.Rules) == 0 {
			return errNotYet("the view ClusterRole has no rules yet (aggregation pending)")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("wait for the view ClusterRole to be aggregated: %v", err)
	}

	if err := c.CreateNamespace(ctx, ns, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(ctx, podManifest(ns, "existing")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Kubectl(ctx, "create", "clusterrolebinding", "reader-view", "--clusterrole=view", "--user="+cluster.ReaderUser); err != nil {
		t.Fatal(err)
	}

	t.Run("reader can list pods", func(t *testing.T) {
		// The RBAC authorizer reads bindings from an informer: allow it to
		// catch up with the new binding.
		err := cluster.Eventually(ctx, 30*time.Second, 250*time.Millisecond, func(ctx context.Context) error {
			out, _, err := c.KubectlAs(ctx, cluster.ReaderUser, "get", "pods", "-n", ns, "-o", "name")
			if err != nil {
				return err
			}
			if strings.TrimSpace(out) != "pod/existing" {
				return errNotYet("reader sees " + out)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	tests := []struct {
		name string
		user string
		args []string
		want string // in kubectl's error
	}{
		{
			name: "reader cannot run a pod",
			user: cluster.ReaderUser,
			args: []string{"run", "intruder", "-n", ns, "--image=registry.k8s.io/pause:3.10"},
			want: `User "reader" cannot create resource "pods" in API group "" in the namespace "team"`,
		},
		{
			name: "reader cannot create a namespace",
			user: cluster.ReaderUser,
			args: []string{"create", "namespace", "elsewhere"},
			want: `User "reader" cannot create resource "namespaces"`,
		},
		{
			name: "reader cannot delete a pod",
			user: cluster.ReaderUser,
			args: []string{"delete", "pod", "existing", "-n", ns},
			want: `User "reader" cannot delete resource "pods"`,
		},
		{
			name: "unbound developer cannot list pods",
			user: cluster.DeveloperUser,
			args: []string{"get", "pods", "-n", ns},
			want: `User "developer" cannot list resource "pods"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, err := c.KubectlAs(ctx, tt.user, tt.args...)
			if err == nil {
				t.Fatalf("kubectl %s as %s succeeded, want Forbidden", strings.Join(tt.args, " "), tt.user)
			}
			if !strings.Contains(stderr, "Forbidden") || !strings.Contains(stderr, tt.want) {
				t.Fatalf("kubectl %s as %s: stderr = %q, want Forbidden and %q", strings.Join(tt.args, " "), tt.user, stderr, tt.want)
			}
		})
	}

	t.Run("auth can-i agrees", func(t *testing.T) {
		out, _, err := c.KubectlAs(ctx, cluster.ReaderUser, "auth", "can-i", "create", "pods", "-n", ns)
		if err == nil || strings.TrimSpace(out) != "no" {
			t.Fatalf("kubectl auth can-i create pods as reader = %q, %v; want no and a non-zero exit", out, err)
		}
	})
}

// errNotYet is a polling condition that does not hold yet.
type errNotYet string

func (e errNotYet) Error() string { return string(e) }
