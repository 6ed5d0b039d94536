package netpol

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	sigsjson "sigs.k8s.io/json"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// Protocols a NetworkPolicy port can name.
const (
	TCP  = "TCP"
	UDP  = "UDP"
	SCTP = "SCTP"
)

// MetadataNameLabel is the label the API server sets on every namespace to
// its name.
const MetadataNameLabel = "kubernetes.io/metadata.name"

// Namespace is a namespace and its labels.
type Namespace struct {
	Name   string
	Labels map[string]string
	// File and Line locate the Namespace object; empty when the namespace
	// is only implied by the objects in it.
	File string
	Line int
}

// ContainerPort is a port a pod's container declares.
type ContainerPort struct {
	Name     string
	Port     int32
	Protocol string
}

// Workload is something that runs pods: a pod controller (any kind with a
// pod template) or a bare Pod.
type Workload struct {
	Kind      string
	Namespace string
	Name      string
	// Labels are the labels of its pods.
	Labels map[string]string
	Ports  []ContainerPort
	File   string
	Line   int
}

// Ref renders namespace/name.
func (w *Workload) Ref() string { return w.Namespace + "/" + w.Name }

// Policy is a parsed, validated NetworkPolicy.
type Policy struct {
	Namespace string
	Name      string
	// PodSelector selects the pods of Namespace the policy applies to.
	PodSelector labels.Selector
	// SelectsAll is true when the pod selector is empty (every pod).
	SelectsAll bool
	// Ingress and Egress are the effective policy types: policyTypes, or
	// when absent Ingress always and Egress when there are egress rules.
	Ingress, Egress bool
	IngressRules    []Rule
	EgressRules     []Rule
	File            string
	Line            int
}

// Ref renders NetworkPolicy/namespace/name.
func (p *Policy) Ref() string { return "NetworkPolicy/" + p.Namespace + "/" + p.Name }

// Rule is one ingress or egress rule: traffic from (or to) any of Peers on
// any of Ports.
type Rule struct {
	// AllPeers is true when the rule has no from/to: every source or
	// destination, inside or outside the cluster.
	AllPeers bool
	Peers    []Peer
	// Ports empty means every port of every protocol.
	Ports []PortRule
}

// Peer is one from/to entry.
type Peer struct {
	// PodSelector and NamespaceSelector are nil when absent. A peer with
	// only PodSelector selects pods of the policy's namespace; with only
	// NamespaceSelector, every pod of the selected namespaces; with both,
	// the selected pods of the selected namespaces.
	PodSelector       labels.Selector
	NamespaceSelector labels.Selector
	IPBlock           *IPBlock
}

// IPBlock is a CIDR less some CIDRs inside it.
type IPBlock struct {
	CIDR   netip.Prefix
	Except []netip.Prefix
}

// String renders "CIDR" or "CIDR except A, B".
func (b *IPBlock) String() string {
	if len(b.Except) == 0 {
		return b.CIDR.String()
	}
	ex := make([]string, len(b.Except))
	for i, e := range b.Except {
		ex[i] = e.String()
	}
	return b.CIDR.String() + " except " + strings.Join(ex, ", ")
}

// PortRule is one entry of a rule's ports.
type PortRule struct {
	Protocol string
	// Port is 0 for every port of the protocol. EndPort, when set, ends a
	// range starting at Port.
	Port    int32
	EndPort int32
	// Name is a named port, resolved against the destination pod's
	// container ports.
	Name string
}

// Input is the part of a cluster network policies are about.
type Input struct {
	Namespaces map[string]*Namespace
	Workloads  []*Workload
	Policies   []*Policy
}

// ObjectError is an invalid object: it names the object and where it was
// read.
type ObjectError struct {
	// Object is Kind/namespace/name.
	Object string
	// Position is file:line, or "" when unknown.
	Position string
	Err      error
}

func (e *ObjectError) Error() string {
	if e.Position == "" {
		return e.Object + ": " + e.Err.Error()
	}
	return e.Position + ": " + e.Object + ": " + e.Err.Error()
}

func (e *ObjectError) Unwrap() error { return e.Err }

func objectErr(o *k8s.Object, err error) error {
	return &ObjectError{Object: o.String(), Position: o.Position(), Err: err}
}

// Parse reads namespaces, NetworkPolicies and workloads from objs; other
// kinds are ignored. Namespaces that objects live in but that have no
// Namespace object are added with only the kubernetes.io/metadata.name
// label. An object without a namespace is in "default". Every invalid
// object is reported, joined, as an *ObjectError.
func Parse(objs []*k8s.Object) (*Input, error) {
	in := &Input{Namespaces: map[string]*Namespace{}}
	var errs []error
	owners := map[string]bool{} // namespace/Kind/name of pod-owning objects
	for _, o := range objs {
		if _, ok := workloadTemplate(o); ok {
			owners[nsOf(o)+"/"+o.Kind()+"/"+o.Name()] = true
		}
	}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		switch {
		case gvk.Group == "" && gvk.Kind == "Namespace":
			ns, err := parseNamespace(o)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if prev, dup := in.Namespaces[ns.Name]; dup && prev.File != "" {
				errs = append(errs, objectErr(o, fmt.Errorf("defined twice (first at %s:%d)", prev.File, prev.Line)))
				continue
			}
			in.Namespaces[ns.Name] = ns
		case gvk.Group == networkingv1.GroupName && gvk.Kind == "NetworkPolicy":
			p, err := ParsePolicy(o)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			in.Policies = append(in.Policies, p)
		default:
			tmpl, ok := workloadTemplate(o)
			if !ok || ownedByInput(o, owners) {
				continue
			}
			w, err := parseWorkload(o, tmpl)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			in.Workloads = append(in.Workloads, w)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, w := range in.Workloads {
		in.addImpliedNamespace(w.Namespace)
	}
	for _, p := range in.Policies {
		in.addImpliedNamespace(p.Namespace)
	}
	seen := map[string]*Policy{}
	for _, p := range in.Policies {
		key := p.Namespace + "/" + p.Name
		if prev, dup := seen[key]; dup {
			errs = append(errs, &ObjectError{Object: p.Ref(), Position: position(p.File, p.Line),
				Err: fmt.Errorf("defined twice (first at %s)", position(prev.File, prev.Line))})
		}
		seen[key] = p
	}
	sort.SliceStable(in.Workloads, func(i, j int) bool {
		a, b := in.Workloads[i], in.Workloads[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Kind < b.Kind
	})
	return in, errors.Join(errs...)
}

func (in *Input) addImpliedNamespace(name string) {
	if _, ok := in.Namespaces[name]; !ok {
		in.Namespaces[name] = &Namespace{Name: name, Labels: map[string]string{MetadataNameLabel: name}}
	}
}

// NamespaceNames returns the namespaces' names, sorted.
func (in *Input) NamespaceNames() []string {
	out := make([]string, 0, len(in.Namespaces))
	for n := range in.Namespaces {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func position(file string, line int) string {
	if file == "" {
		return ""
	}
	if line > 0 {
		return fmt.Sprintf("%s:%d", file, line)
	}
	return file
}

func nsOf(o *k8s.Object) string {
	if ns := o.Namespace(); ns != "" {
		return ns
	}
	return "default"
}

// workloadTemplate returns the pod template of an object that runs pods
// (not a PodTemplate object, which only describes one).
func workloadTemplate(o *k8s.Object) (k8s.PodTemplate, bool) {
	gvk := o.GroupVersionKind()
	if gvk.Group == "" && gvk.Kind == "PodTemplate" {
		return k8s.PodTemplate{}, false
	}
	return k8s.PodTemplateOf(o)
}

// ownedByInput reports whether o's controller is among the input's pod
// owners (a ReplicaSet of a Deployment, a Pod of a ReplicaSet): the owner
// stands for it.
func ownedByInput(o *k8s.Object, owners map[string]bool) bool {
	refs, _ := o.Metadata()["ownerReferences"].([]any)
	for _, r := range refs {
		m, _ := r.(map[string]any)
		if c, _ := m["controller"].(bool); !c {
			continue
		}
		kind, _ := m["kind"].(string)
		name, _ := m["name"].(string)
		if owners[nsOf(o)+"/"+kind+"/"+name] {
			return true
		}
	}
	return false
}

func parseNamespace(o *k8s.Object) (*Namespace, error) {
	name := o.Name()
	if name == "" {
		return nil, objectErr(o, errors.New("metadata.name is required"))
	}
	if md := o.Metadata(); md != nil {
		if l, ok := md["labels"]; ok && l != nil {
			if _, ok := l.(map[string]any); !ok {
				return nil, objectErr(o, errors.New("metadata.labels must be a mapping of strings"))
			}
		}
	}
	lbls := map[string]string{}
	for k, v := range o.Labels() {
		lbls[k] = v
	}
	lbls[MetadataNameLabel] = name
	return &Namespace{Name: name, Labels: lbls, File: o.File, Line: o.Line}, nil
}

func parseWorkload(o *k8s.Object, t k8s.PodTemplate) (*Workload, error) {
	w := &Workload{Kind: o.Kind(), Namespace: nsOf(o), Name: o.Name(), File: o.File, Line: o.Line, Labels: map[string]string{}}
	if w.Name == "" {
		return nil, objectErr(o, errors.New("metadata.name is required"))
	}
	if l, ok := t.Metadata["labels"]; ok && l != nil {
		m, ok := l.(map[string]any)
		if !ok {
			return nil, objectErr(o, fmt.Errorf("%s must be a mapping", labelsField(t)))
		}
		for k, v := range m {
			s, ok := v.(string)
			if !ok {
				return nil, objectErr(o, fmt.Errorf("%s[%q]: value must be a string", labelsField(t), k))
			}
			w.Labels[k] = s
		}
	}
	names := map[string]bool{}
	for _, c := range k8s.Containers(t.Spec) {
		if c.List == "ephemeralContainers" {
			continue
		}
		ports, present := c.Spec["ports"]
		if !present || ports == nil {
			continue
		}
		list, ok := ports.([]any)
		if !ok {
			return nil, objectErr(o, fmt.Errorf("%s.%s[%d].ports must be a list", templateField(t), c.List, c.Index))
		}
		for i, p := range list {
			field := fmt.Sprintf("%s.%s[%d].ports[%d]", templateField(t), c.List, c.Index, i)
			m, ok := p.(map[string]any)
			if !ok {
				return nil, objectErr(o, fmt.Errorf("%s must be a mapping", field))
			}
			port, ok := toInt(m["containerPort"])
			if !ok || port < 1 || port > 65535 {
				return nil, objectErr(o, fmt.Errorf("%s.containerPort must be a number between 1 and 65535", field))
			}
			cp := ContainerPort{Port: int32(port), Protocol: TCP}
			if v, ok := m["protocol"].(string); ok && v != "" {
				cp.Protocol = v
			}
			if v, ok := m["name"].(string); ok && v != "" {
				if names[v] {
					return nil, objectErr(o, fmt.Errorf("%s.name: port name %q is used twice in the pod", field, v))
				}
				names[v] = true
				cp.Name = v
			}
			w.Ports = append(w.Ports, cp)
		}
	}
	return w, nil
}

func labelsField(t k8s.PodTemplate) string {
	if t.Path == "" {
		return "metadata.labels"
	}
	return t.Path + ".metadata.labels"
}

func templateField(t k8s.PodTemplate) string {
	if t.Path == "" {
		return "spec"
	}
	return t.Path + ".spec"
}

func toInt(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case float64:
		if n != float64(int64(n)) {
			return 0, false
		}
		return int64(n), true
	}
	return 0, false
}

// ParsePolicy decodes and validates one NetworkPolicy: unknown fields,
// malformed selectors (unknown operators, invalid label keys or values),
// invalid CIDRs, ports and protocols are errors naming the object.
func ParsePolicy(o *k8s.Object) (*Policy, error) {
	var np networkingv1.NetworkPolicy
	data, err := json.Marshal(o.Content)
	if err != nil {
		return nil, objectErr(o, err)
	}
	strict, err := sigsjson.UnmarshalStrict(data, &np, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, objectErr(o, errors.New(strings.TrimPrefix(err.Error(), "json: ")))
	}
	if len(strict) > 0 {
		return nil, objectErr(o, errors.Join(strict...))
	}
	p, err := fromAPI(&np)
	if err != nil {
		return nil, objectErr(o, err)
	}
	p.File, p.Line = o.File, o.Line
	return p, nil
}

// FromAPI converts and validates a typed NetworkPolicy (from a live
// cluster).
func FromAPI(np *networkingv1.NetworkPolicy) (*Policy, error) {
	p, err := fromAPI(np)
	if err != nil {
		return nil, &ObjectError{Object: "NetworkPolicy/" + np.Namespace + "/" + np.Name, Err: err}
	}
	return p, nil
}

func fromAPI(np *networkingv1.NetworkPolicy) (*Policy, error) {
	var errs []error
	p := &Policy{Namespace: np.Namespace, Name: np.Name}
	if p.Namespace == "" {
		p.Namespace = "default"
	}
	if p.Name == "" {
		errs = append(errs, errors.New("metadata.name is required"))
	}
	sel, err := selector(&np.Spec.PodSelector, "spec.podSelector")
	if err != nil {
		errs = append(errs, err)
	}
	p.PodSelector = sel
	p.SelectsAll = len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0
	if len(np.Spec.PolicyTypes) == 0 {
		p.Ingress = true
		p.Egress = len(np.Spec.Egress) > 0
	}
	for i, t := range np.Spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			p.Ingress = true
		case networkingv1.PolicyTypeEgress:
			p.Egress = true
		default:
			errs = append(errs, fmt.Errorf("spec.policyTypes[%d]: unsupported value %q: supported values: \"Ingress\", \"Egress\"", i, t))
		}
	}
	for i, r := range np.Spec.Ingress {
		rule, err := convertRule(r.From, r.Ports, fmt.Sprintf("spec.ingress[%d]", i), "from")
		if err != nil {
			errs = append(errs, err)
		}
		p.IngressRules = append(p.IngressRules, rule)
	}
	for i, r := range np.Spec.Egress {
		rule, err := convertRule(r.To, r.Ports, fmt.Sprintf("spec.egress[%d]", i), "to")
		if err != nil {
			errs = append(errs, err)
		}
		p.EgressRules = append(p.EgressRules, rule)
	}
	if !p.Ingress {
		p.IngressRules = nil
	}
	if !p.Egress {
		p.EgressRules = nil
	}
	return p, errors.Join(errs...)
}

func selector(ls *metav1.LabelSelector, field string) (labels.Selector, error) {
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return labels.Nothing(), fmt.Errorf("%s: %w", field, err)
	}
	return sel, nil
}

func convertRule(peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort, field, peerField string) (Rule, error) {
	var errs []error
	r := Rule{AllPeers: len(peers) == 0}
	for j, pe := range peers {
		f := fmt.Sprintf("%s.%s[%d]", field, peerField, j)
		peer, err := convertPeer(pe, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.Peers = append(r.Peers, peer)
	}
	for k, pt := range ports {
		f := fmt.Sprintf("%s.ports[%d]", field, k)
		port, err := convertPort(pt, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.Ports = append(r.Ports, port)
	}
	return r, errors.Join(errs...)
}

func convertPeer(pe networkingv1.NetworkPolicyPeer, field string) (Peer, error) {
	var out Peer
	n := 0
	if pe.PodSelector != nil {
		n++
		sel, err := selector(pe.PodSelector, field+".podSelector")
		if err != nil {
			return out, err
		}
		out.PodSelector = sel
	}
	if pe.NamespaceSelector != nil {
		n++
		sel, err := selector(pe.NamespaceSelector, field+".namespaceSelector")
		if err != nil {
			return out, err
		}
		out.NamespaceSelector = sel
	}
	if pe.IPBlock != nil {
		if n > 0 {
			return out, fmt.Errorf("%s: may not specify ipBlock together with podSelector or namespaceSelector", field)
		}
		n++
		b, err := convertIPBlock(pe.IPBlock, field+".ipBlock")
		if err != nil {
			return out, err
		}
		out.IPBlock = b
	}
	if n == 0 {
		return out, fmt.Errorf("%s: must specify a peer (podSelector, namespaceSelector or ipBlock)", field)
	}
	return out, nil
}

func parseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q (want an address and a prefix length, like 10.0.0.0/16)", s)
	}
	if p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: zones are not allowed", s)
	}
	return p.Masked(), nil
}

func convertIPBlock(b *networkingv1.IPBlock, field string) (*IPBlock, error) {
	cidr, err := parseCIDR(b.CIDR)
	if err != nil {
		return nil, fmt.Errorf("%s.cidr: %w", field, err)
	}
	out := &IPBlock{CIDR: cidr}
	for i, e := range b.Except {
		ex, err := parseCIDR(e)
		if err != nil {
			return nil, fmt.Errorf("%s.except[%d]: %w", field, i, err)
		}
		if ex.Addr().Is4() != cidr.Addr().Is4() || ex.Bits() <= cidr.Bits() || !cidr.Contains(ex.Addr()) {
			return nil, fmt.Errorf("%s.except[%d]: %s must be a strict subset of cidr %s", field, i, e, b.CIDR)
		}
		out.Except = append(out.Except, ex)
	}
	return out, nil
}

func convertPort(pt networkingv1.NetworkPolicyPort, field string) (PortRule, error) {
	out := PortRule{Protocol: TCP}
	if pt.Protocol != nil {
		switch *pt.Protocol {
		case TCP, UDP, SCTP:
			out.Protocol = string(*pt.Protocol)
		default:
			return out, fmt.Errorf("%s.protocol: unsupported value %q: supported values: \"SCTP\", \"TCP\", \"UDP\"", field, *pt.Protocol)
		}
	}
	if pt.Port != nil {
		switch pt.Port.Type {
		case intstr.Int:
			if pt.Port.IntVal < 1 || pt.Port.IntVal > 65535 {
				return out, fmt.Errorf("%s.port: invalid value %d: must be between 1 and 65535, inclusive", field, pt.Port.IntVal)
			}
			out.Port = pt.Port.IntVal
		default:
			if msgs := validation.IsValidPortName(pt.Port.StrVal); len(msgs) > 0 {
				return out, fmt.Errorf("%s.port: invalid value %q: %s", field, pt.Port.StrVal, strings.Join(msgs, "; "))
			}
			out.Name = pt.Port.StrVal
		}
	}
	if pt.EndPort != nil {
		switch {
		case pt.Port == nil:
			return out, fmt.Errorf("%s.endPort: may not be specified when port is not specified", field)
		case out.Name != "":
			return out, fmt.Errorf("%s.endPort: may not be specified when port is a named port", field)
		case *pt.EndPort < out.Port:
			return out, fmt.Errorf("%s.endPort: %d must be greater than or equal to port %d", field, *pt.EndPort, out.Port)
		case *pt.EndPort > 65535:
			return out, fmt.Errorf("%s.endPort: %d must be between 1 and 65535, inclusive", field, *pt.EndPort)
		}
		out.EndPort = *pt.EndPort
	}
	return out, nil
}
