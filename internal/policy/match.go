package policy

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Sources of a reviewed object, for match.source.
const (
	SourceOriginal  = "Original"
	SourceGenerated = "Generated"
	SourceAll       = "All"
)

// Match is a constraint's spec.match, with Gatekeeper's semantics.
type Match struct {
	Kinds              []KindMatch
	Scope              string
	Namespaces         []string
	ExcludedNamespaces []string
	LabelSelector      labels.Selector
	NamespaceSelector  labels.Selector
	Name               string
	Source             string
}

// KindMatch is one entry of match.kinds.
type KindMatch struct {
	APIGroups []string `json:"apiGroups"`
	Kinds     []string `json:"kinds"`
}

type rawMatch struct {
	Kinds              []KindMatch           `json:"kinds"`
	Scope              string                `json:"scope"`
	Namespaces         []string              `json:"namespaces"`
	ExcludedNamespaces []string              `json:"excludedNamespaces"`
	LabelSelector      *metav1.LabelSelector `json:"labelSelector"`
	NamespaceSelector  *metav1.LabelSelector `json:"namespaceSelector"`
	Name               string                `json:"name"`
	Source             string                `json:"source"`
}

// wildcardPattern is what Gatekeeper's constraint CRDs accept in
// match.namespaces, match.excludedNamespaces and match.name: a name with an
// optional "*" at one end (pkg/target/match_schema.go, wildcardNSPattern).
const wildcardPattern = `^(\*|\*-)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\*|-\*)?$`

// matchValidator checks spec.match against the schema Gatekeeper gives
// every constraint CRD (pkg/target/match_schema.go), which the API server
// and gator enforce before a constraint is accepted.
var matchValidator = sync.OnceValues(func() (validation.SchemaValidator, error) {
	str := apiextensions.JSONSchemaProps{Type: "string"}
	list := func(item apiextensions.JSONSchemaProps) apiextensions.JSONSchemaProps {
		return apiextensions.JSONSchemaProps{Type: "array", Items: &apiextensions.JSONSchemaPropsOrArray{Schema: &item}}
	}
	enum := func(values ...string) apiextensions.JSONSchemaProps {
		p := apiextensions.JSONSchemaProps{Type: "string"}
		for _, v := range values {
			p.Enum = append(p.Enum, v)
		}
		return p
	}
	wildcard := apiextensions.JSONSchemaProps{Type: "string", Pattern: wildcardPattern}
	nullable := apiextensions.JSONSchemaProps{Type: "string", Nullable: true}
	selector := apiextensions.JSONSchemaProps{Type: "object", Properties: map[string]apiextensions.JSONSchemaProps{
		"matchLabels": {Type: "object", AdditionalProperties: &apiextensions.JSONSchemaPropsOrBool{Allows: true, Schema: &str}},
		"matchExpressions": list(apiextensions.JSONSchemaProps{Type: "object", Properties: map[string]apiextensions.JSONSchemaProps{
			"key":      str,
			"operator": enum("In", "NotIn", "Exists", "DoesNotExist"),
			"values":   list(str),
		}}),
	}}
	schema := apiextensions.JSONSchemaProps{Type: "object", Properties: map[string]apiextensions.JSONSchemaProps{
		"kinds": list(apiextensions.JSONSchemaProps{Type: "object", Properties: map[string]apiextensions.JSONSchemaProps{
			"apiGroups": list(nullable),
			"kinds":     list(nullable),
		}}),
		"namespaces":         list(wildcard),
		"excludedNamespaces": list(wildcard),
		"labelSelector":      selector,
		"namespaceSelector":  selector,
		"scope":              enum("*", "Cluster", "Namespaced"),
		"name":               wildcard,
		"source":             enum(SourceAll, SourceOriginal, SourceGenerated),
	}}
	v, _, err := validation.NewSchemaValidator(&schema)
	return v, err
})

// validateMatchSchema reports, as ErrSchema, a spec.match that Gatekeeper's
// constraint schema refuses.
func validateMatchSchema(v any) error {
	if v == nil {
		return nil
	}
	validator, err := matchValidator()
	if err != nil {
		return err
	}
	js, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var canonical any
	if err := utiljson.Unmarshal(js, &canonical); err != nil {
		return err
	}
	errs := validation.ValidateCustomResource(field.NewPath("spec", "match"), canonical, validator)
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	sort.Strings(msgs)
	return fmt.Errorf("%w: %s", ErrSchema, strings.Join(msgs, "; "))
}

// parseMatch decodes and validates spec.match.
func parseMatch(v any) (Match, error) {
	if v == nil {
		return Match{}, nil
	}
	if err := validateMatchSchema(v); err != nil {
		return Match{}, err
	}
	js, err := json.Marshal(v)
	if err != nil {
		return Match{}, err
	}
	var raw rawMatch
	if err := json.Unmarshal(js, &raw); err != nil {
		return Match{}, fmt.Errorf("spec.match: %w", err)
	}
	m := Match{
		Kinds:              raw.Kinds,
		Scope:              raw.Scope,
		Namespaces:         raw.Namespaces,
		ExcludedNamespaces: raw.ExcludedNamespaces,
		Name:               raw.Name,
		Source:             raw.Source,
	}
	switch m.Scope {
	case "", "*", "Cluster", "Namespaced":
	default:
		return Match{}, fmt.Errorf("spec.match.scope: %q is not one of *, Cluster, Namespaced", m.Scope)
	}
	switch m.Source {
	case "", SourceAll, SourceOriginal, SourceGenerated:
	default:
		return Match{}, fmt.Errorf("spec.match.source: %q is not one of All, Original, Generated", m.Source)
	}
	if m.LabelSelector, err = selector(raw.LabelSelector, "labelSelector"); err != nil {
		return Match{}, err
	}
	if m.NamespaceSelector, err = selector(raw.NamespaceSelector, "namespaceSelector"); err != nil {
		return Match{}, err
	}
	return m, nil
}

func selector(ls *metav1.LabelSelector, name string) (labels.Selector, error) {
	if ls == nil {
		return nil, nil
	}
	path := field.NewPath("spec", "match", name)
	if errs := metav1validation.ValidateLabelSelector(ls, metav1validation.LabelSelectorValidationOptions{}, path); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	s, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// matchTarget is what Match judges: one object (object or oldObject of a
// review), its kind, and its namespace's labels when known.
type matchTarget struct {
	group, kind string
	name        string
	namespace   string
	labels      map[string]string
	nsLabels    map[string]string // nil when the namespace is unknown
	generated   bool
}

func (m *Match) matches(t *matchTarget) bool {
	switch m.Source {
	case SourceOriginal:
		if t.generated {
			return false
		}
	case SourceGenerated:
		if !t.generated {
			return false
		}
	}
	isNS := t.group == "" && t.kind == "Namespace"
	if len(m.Kinds) > 0 && !m.kindMatches(t) {
		return false
	}
	switch m.Scope {
	case "Cluster":
		if !isNS && t.namespace != "" {
			return false
		}
	case "Namespaced":
		if isNS || t.namespace == "" {
			return false
		}
	}
	ns := t.namespace
	if isNS {
		ns = t.name
	}
	if len(m.Namespaces) > 0 && ns != "" && !anyWildcard(m.Namespaces, ns) {
		return false
	}
	if len(m.ExcludedNamespaces) > 0 && ns != "" && anyWildcard(m.ExcludedNamespaces, ns) {
		return false
	}
	if m.LabelSelector != nil && !m.LabelSelector.Matches(labels.Set(t.labels)) {
		return false
	}
	if m.NamespaceSelector != nil {
		switch {
		case isNS:
			if !m.NamespaceSelector.Matches(labels.Set(t.labels)) {
				return false
			}
		case t.namespace == "":
			// Cluster-scoped objects other than Namespaces always match.
		default:
			nsl := t.nsLabels
			if nsl == nil {
				// Unknown namespace: the API server labels every
				// namespace with its own name, so that much is known.
				nsl = map[string]string{"kubernetes.io/metadata.name": t.namespace}
			}
			if !m.NamespaceSelector.Matches(labels.Set(nsl)) {
				return false
			}
		}
	}
	if m.Name != "" && !Wildcard(m.Name, t.name) {
		return false
	}
	return true
}

func (m *Match) kindMatches(t *matchTarget) bool {
	for _, k := range m.Kinds {
		if !(len(k.Kinds) == 0 || contains(k.Kinds, "*") || contains(k.Kinds, t.kind)) {
			continue
		}
		if len(k.APIGroups) == 0 || contains(k.APIGroups, "*") || contains(k.APIGroups, t.group) {
			return true
		}
	}
	return false
}

func contains(set []string, s string) bool {
	for _, e := range set {
		if e == s {
			return true
		}
	}
	return false
}

func anyWildcard(patterns []string, s string) bool {
	for _, p := range patterns {
		if Wildcard(p, s) {
			return true
		}
	}
	return false
}

// Wildcard matches s against a name with an optional '*' at either end (or
// both): "kube-*", "*-system", "*prod*", "*".
func Wildcard(pattern, s string) bool {
	switch {
	case pattern == "*":
		return true
	case len(pattern) > 1 && strings.HasPrefix(pattern, "*") && strings.HasSuffix(pattern, "*"):
		return strings.Contains(s, pattern[1:len(pattern)-1])
	case strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(s, pattern[1:])
	case strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(s, pattern[:len(pattern)-1])
	}
	return pattern == s
}
