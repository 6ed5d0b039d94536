package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/bulwark-k8s/bulwark/internal/admission"
)

type installFlags struct {
	apply         bool
	namespace     string
	image         string
	replicas      int32
	failurePolicy string
	timeout       int32
	mutate        bool
	mutateSecCtx  bool
	config        string
	labels        []string
	caBundleFile  string
	apiServerCIDR []string
	kubeconfig    string
	kubecontext   string
}

func newInstallCommand(s Streams) *cobra.Command {
	f := &installFlags{}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Print (or apply) the manifests that run bulwark's admission webhook in a cluster",
		Long: `Prints the manifests of an installation of bulwark serve --admission: the
ConstraintTemplate and PolicyReport CRDs, the namespace, least-privilege RBAC,
bulwark.yaml in a ConfigMap, a Deployment (2 replicas, non-root, read-only root
filesystem, limits) with its PodDisruptionBudget, Service and NetworkPolicies,
and the webhook configurations (failurePolicy, timeoutSeconds, a
namespaceSelector that leaves out the exempt namespaces). With --apply they are
applied to the cluster (server-side apply) instead.

Bulwark issues its own serving certificate, keeps it in a Secret of its
namespace and patches the CA bundle into the webhook configurations; give
--ca-bundle-file when you provide the certificate yourself.`,
		Example: `  bulwark install --config bulwark.yaml > bulwark.yaml.out && kubectl apply -f bulwark.yaml.out
  bulwark install --apply --failure-policy fail --mutate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInstall(cmd.Context(), s, f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.apply, "apply", false, "apply the manifests to the cluster instead of printing them")
	fl.StringVar(&f.namespace, "namespace", admission.DefaultNamespace, "namespace bulwark runs in")
	fl.StringVar(&f.image, "image", "", "bulwark's container image (default "+admission.DefaultImageRepo+":VERSION)")
	fl.Int32Var(&f.replicas, "replicas", 2, "replicas of the webhook")
	fl.StringVar(&f.failurePolicy, "failure-policy", "ignore", "webhook failurePolicy: ignore or fail")
	fl.Int32Var(&f.timeout, "timeout-seconds", 5, "webhook timeoutSeconds (1 to 30)")
	fl.BoolVar(&f.mutate, "mutate", false, "install the mutating webhook and set imagePullPolicy: Always")
	fl.BoolVar(&f.mutateSecCtx, "mutate-security-context", false, "install the mutating webhook and fill in securityContext defaults")
	fl.StringVar(&f.config, "config", "", "bulwark.yaml to install (built-in defaults when absent)")
	fl.StringArrayVar(&f.labels, "label", []string{"cost-center=platform-security"}, "KEY=VALUE label put on every object (repeatable)")
	fl.StringVar(&f.caBundleFile, "ca-bundle-file", "", "PEM CA bundle for the webhook configurations (only when you provide bulwark's certificate)")
	fl.StringArrayVar(&f.apiServerCIDR, "api-server-cidr", nil, "CIDR of the API server's addresses, the only egress allowed on 443/6443 besides DNS (repeatable; default: any address)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig for --apply")
	fl.StringVar(&f.kubecontext, "context", "", "kubeconfig context for --apply")
	return cmd
}

func runInstall(ctx context.Context, s Streams, f *installFlags) error {
	fp, err := admission.ParseFailurePolicy(f.failurePolicy)
	if err != nil {
		return usageError(fmt.Errorf("--failure-policy: %w", err))
	}
	if f.timeout < 1 || f.timeout > 30 {
		return usageError(errors.New("--timeout-seconds must be between 1 and 30"))
	}
	cfg, err := loadConfig(f.config)
	if err != nil {
		return usageError(err)
	}
	var raw []byte
	if f.config != "" {
		if raw, err = os.ReadFile(f.config); err != nil {
			return usageError(err)
		}
	} else {
		if raw, err = json.Marshal(cfg); err != nil {
			return err
		}
	}
	labels := map[string]string{}
	for _, l := range f.labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return usageError(fmt.Errorf("--label %q is not KEY=VALUE", l))
		}
		labels[k] = v
	}
	var caBundle []byte
	if f.caBundleFile != "" {
		if caBundle, err = os.ReadFile(f.caBundleFile); err != nil {
			return usageError(err)
		}
	}
	image := f.image
	if image == "" {
		image = admission.DefaultImageRepo + ":" + Version
	}
	objs, err := admission.Manifests(admission.InstallOptions{
		Namespace:        f.namespace,
		Image:            image,
		Replicas:         f.replicas,
		FailurePolicy:    fp,
		TimeoutSeconds:   f.timeout,
		Mutation:         admission.Mutation{ImagePullPolicyAlways: f.mutate, SecurityContextDefaults: f.mutateSecCtx},
		Config:           raw,
		ExemptNamespaces: cfg.ExemptNamespaces,
		Labels:           labels,
		CABundle:         caBundle,
		APIServerCIDRs:   f.apiServerCIDR,
	})
	if err != nil {
		return err
	}
	if !f.apply {
		out, err := admission.YAML(objs)
		if err != nil {
			return err
		}
		_, err = s.Out.Write(out)
		return err
	}
	rc, err := clusterConfig(f.kubeconfig, f.kubecontext)
	if err != nil {
		return usageError(err)
	}
	if rc == nil {
		return usageError(errors.New("--apply: no kubeconfig and not in a cluster"))
	}
	client, err := dynamic.NewForConfig(rc)
	if err != nil {
		return err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	for _, o := range objs {
		u := &unstructured.Unstructured{Object: o}
		gvk := u.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("apply %s %s: %w", gvk.Kind, u.GetName(), err)
		}
		body, err := json.Marshal(o)
		if err != nil {
			return err
		}
		var ri dynamic.ResourceInterface = client.Resource(mapping.Resource)
		if u.GetNamespace() != "" {
			ri = client.Resource(mapping.Resource).Namespace(u.GetNamespace())
		}
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err = ri.Patch(actx, u.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "bulwark-install", Force: ptrTo(true)})
		cancel()
		if err != nil {
			return fmt.Errorf("apply %s %s: %w", gvk.Kind, u.GetName(), err)
		}
		fmt.Fprintf(s.Out, "%s/%s applied\n", strings.ToLower(gvk.Kind), u.GetName())
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }
