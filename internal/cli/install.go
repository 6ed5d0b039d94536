package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"
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
	audit         bool
	auditSize     string
	auditClass    string
	auditRetain   string
	auditSinks    []string
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
namespaceSelector that leaves out the exempt namespaces). With --audit it adds
the receiver of the API server's audit webhook (bulwark serve --audit): a
one-replica StatefulSet with a volume, its Service, NetworkPolicy and RBAC; its
token and TLS Secrets are yours to create. With --apply they are applied to the
cluster (server-side apply) instead.

Bulwark issues its own serving certificate, keeps it in a Secret of its
namespace and patches the CA bundle into the webhook configurations; give
--ca-bundle-file when you provide the certificate yourself.`,
		Example: `  bulwark install --config bulwark.yaml > bulwark.yaml.out && kubectl apply -f bulwark.yaml.out
  bulwark install --apply --failure-policy fail --mutate
  bulwark install --audit --audit-storage-class managed-csi --audit-sink-cidr 10.20.0.0/24`,
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
	fl.BoolVar(&f.audit, "audit", false, "also install the receiver of the API server's audit webhook (bulwark serve --audit, a StatefulSet with a volume)")
	fl.StringVar(&f.auditSize, "audit-storage-size", "20Gi", "size of the audit receiver's volume (archive journal, index, alert spools)")
	fl.StringVar(&f.auditClass, "audit-storage-class", "", "StorageClass of the audit receiver's volume (default: the cluster's default)")
	fl.StringVar(&f.auditRetain, "audit-retention", "2160h", "how long the audit receiver keeps archived events (--audit-retention of serve)")
	fl.StringArrayVar(&f.auditSinks, "audit-sink-cidr", nil, "CIDR of the alert sinks (SIEM syslog on 6514, HTTPS on 443), the audit receiver's only egress on those ports besides the API server and DNS (repeatable; default: any address)")
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
	for _, flag := range []struct {
		name  string
		cidrs []string
	}{{"--api-server-cidr", f.apiServerCIDR}, {"--audit-sink-cidr", f.auditSinks}} {
		for _, c := range flag.cidrs {
			if _, _, err := net.ParseCIDR(c); err != nil {
				return usageError(fmt.Errorf("%s %q is not a CIDR (e.g. 10.0.0.0/16)", flag.name, c))
			}
		}
	}
	var audit *admission.AuditReceiver
	if f.audit {
		if _, err := resource.ParseQuantity(f.auditSize); err != nil {
			return usageError(fmt.Errorf("--audit-storage-size %q: %w", f.auditSize, err))
		}
		if d, err := time.ParseDuration(f.auditRetain); err != nil || d <= 0 {
			return usageError(fmt.Errorf("--audit-retention %q is not a positive duration (e.g. 2160h)", f.auditRetain))
		}
		audit = &admission.AuditReceiver{StorageSize: f.auditSize, StorageClass: f.auditClass, Retention: f.auditRetain, SinkCIDRs: f.auditSinks}
		fmt.Fprintf(s.Err, `The audit receiver needs two Secrets in namespace %[1]s that you create:
  kubectl -n %[1]s create secret generic %[2]s --from-literal=tokens="$(openssl rand -hex 32)"
  kubectl -n %[1]s create secret tls %[3]s --cert=tls.crt --key=tls.key   # for %[4]s.%[1]s.svc
and the API server's --audit-webhook-config-file must send that token and trust that CA
(deploy/audit/webhook-kubeconfig.yaml, deploy/audit/policy.yaml; see docs/audit.md).
`, f.namespace, admission.AuditTokenSecret, admission.AuditTLSSecret, admission.AuditName)
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
		Audit:            audit,
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
