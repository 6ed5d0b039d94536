package admission

import (
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Names of bulwark's webhook configurations and of the webhooks in them.
const (
	ValidatingWebhookName = "validate.bulwark.dev"
	MutatingWebhookName   = "mutate.bulwark.dev"
	// ConfigurationName is the name of both webhook configurations.
	ConfigurationName = "bulwark"
	// IgnoreLabel on a namespace takes it out of admission, like an exempt
	// namespace (for break-glass; BW-DET rules watch who sets it).
	IgnoreLabel = "bulwark.dev/ignore"
)

// WebhookConfig says where the API server reaches bulwark and how.
type WebhookConfig struct {
	// URL is the base URL (https://host:port) of an out-of-cluster server;
	// when empty, Service is used.
	URL string
	// Service is bulwark's Service (namespace, name, port 443 when 0).
	Service *admissionregistrationv1.ServiceReference
	// CABundle verifies the serving certificate; empty when bulwark
	// manages its certificate and patches the bundle in itself.
	CABundle []byte
	// FailurePolicy applies when bulwark cannot be reached or answer.
	FailurePolicy FailurePolicy
	// TimeoutSeconds is the API server's wait for an answer (1 to 30).
	TimeoutSeconds int32
	// ExemptNamespaces are left out by the namespaceSelector (exact
	// names: a selector cannot express globs; the handler also exempts
	// glob matches).
	ExemptNamespaces []string
	// Labels are put on both configurations.
	Labels map[string]string
}

func (c WebhookConfig) clientConfig(path string) admissionregistrationv1.WebhookClientConfig {
	cc := admissionregistrationv1.WebhookClientConfig{CABundle: c.CABundle}
	if c.URL != "" {
		u := c.URL + path
		cc.URL = &u
		return cc
	}
	svc := *c.Service
	p := path
	svc.Path = &p
	if svc.Port == nil {
		port := int32(443)
		svc.Port = &port
	}
	cc.Service = &svc
	return cc
}

// namespaceSelector leaves out the exempt namespaces (by the name label the
// API server puts on every namespace) and those labelled IgnoreLabel=true.
func (c WebhookConfig) namespaceSelector() *metav1.LabelSelector {
	sel := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: IgnoreLabel, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"true"},
	}}}
	var names []string
	for _, ns := range c.ExemptNamespaces {
		if ns != "" && ns[0] != '*' && ns[len(ns)-1] != '*' && !slices.Contains(names, ns) {
			names = append(names, ns)
		}
	}
	if len(names) > 0 {
		sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: names,
		})
	}
	return sel
}

func (c WebhookConfig) policy() *admissionregistrationv1.FailurePolicyType {
	p := admissionregistrationv1.Ignore
	if c.FailurePolicy == Fail {
		p = admissionregistrationv1.Fail
	}
	return &p
}

func (c WebhookConfig) timeout() *int32 {
	t := c.TimeoutSeconds
	if t <= 0 {
		t = 10
	}
	return &t
}

func rule(ops []admissionregistrationv1.OperationType, group, version string, resources ...string) admissionregistrationv1.RuleWithOperations {
	scope := admissionregistrationv1.AllScopes
	return admissionregistrationv1.RuleWithOperations{
		Operations: ops,
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{group}, APIVersions: []string{version}, Resources: resources, Scope: &scope,
		},
	}
}

var (
	createUpdate = []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	opCreate     = []admissionregistrationv1.OperationType{admissionregistrationv1.Create}
	opUpdate     = []admissionregistrationv1.OperationType{admissionregistrationv1.Update}
	opConnect    = []admissionregistrationv1.OperationType{admissionregistrationv1.Connect}
)

// ValidatingWebhookConfiguration sends bulwark the CREATE and UPDATE of
// every resource, exec and attach into pods, and ephemeral containers.
// DELETE is not sent: the handler would judge the deleted object, and a
// policy would then keep a non-compliant object from being removed.
func ValidatingWebhookConfiguration(c WebhookConfig) *admissionregistrationv1.ValidatingWebhookConfiguration {
	none := admissionregistrationv1.SideEffectClassNone
	equivalent := admissionregistrationv1.Equivalent
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: ConfigurationName, Labels: c.Labels},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    ValidatingWebhookName,
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &none,
			FailurePolicy:           c.policy(),
			TimeoutSeconds:          c.timeout(),
			MatchPolicy:             &equivalent,
			NamespaceSelector:       c.namespaceSelector(),
			ClientConfig:            c.clientConfig(ValidatePath),
			Rules: []admissionregistrationv1.RuleWithOperations{
				rule(createUpdate, "*", "*", "*"),
				rule(opConnect, "", "v1", "pods/exec", "pods/attach"),
				rule(opUpdate, "", "v1", "pods/ephemeralcontainers"),
			},
		}},
	}
}

// MutatingWebhookConfiguration sends bulwark what it may mutate: pods on
// CREATE, their ephemeral containers, and the CREATE and UPDATE of the
// workloads that carry a pod template. It is reinvoked when a later
// mutating webhook (a sidecar injector) adds containers.
func MutatingWebhookConfiguration(c WebhookConfig) *admissionregistrationv1.MutatingWebhookConfiguration {
	none := admissionregistrationv1.SideEffectClassNone
	equivalent := admissionregistrationv1.Equivalent
	reinvoke := admissionregistrationv1.IfNeededReinvocationPolicy
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: ConfigurationName, Labels: c.Labels},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    MutatingWebhookName,
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &none,
			FailurePolicy:           c.policy(),
			TimeoutSeconds:          c.timeout(),
			MatchPolicy:             &equivalent,
			ReinvocationPolicy:      &reinvoke,
			NamespaceSelector:       c.namespaceSelector(),
			ClientConfig:            c.clientConfig(MutatePath),
			Rules: []admissionregistrationv1.RuleWithOperations{
				rule(opCreate, "", "v1", "pods"),
				rule(opUpdate, "", "v1", "pods/ephemeralcontainers"),
				rule(createUpdate, "", "v1", "replicationcontrollers", "podtemplates"),
				rule(createUpdate, "apps", "v1", "deployments", "replicasets", "statefulsets", "daemonsets"),
				rule(createUpdate, "batch", "v1", "jobs", "cronjobs"),
			},
		}},
	}
}
