package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/bulwark-k8s/bulwark/internal/controls"
	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// Enforcement actions.
const (
	ActionDeny   = "deny"
	ActionDryRun = "dryrun"
	ActionWarn   = "warn"
)

// Annotations that carry a constraint's place in Bulwark's catalog. Users'
// own constraints may carry them too; without them a constraint is reported
// under the CUSTOM requirement.
const (
	AnnotationCheck        = "bulwark.dev/check"
	AnnotationRequirements = "bulwark.dev/requirements"
	AnnotationSeverity     = "bulwark.dev/severity"
	AnnotationTitle        = "bulwark.dev/title"
	AnnotationRemediation  = "bulwark.dev/remediation"
	AnnotationAnchor       = "bulwark.dev/anchor"
	AnnotationScope        = "bulwark.dev/scope"
)

// Constraint is an instance of a Template: what to match, with which
// parameters, and what to do on a violation.
type Constraint struct {
	Kind, Name        string
	Source            *k8s.Object
	Match             Match
	Parameters        map[string]any
	EnforcementAction string
	// Check is the catalog entry findings of this constraint report.
	Check controls.Check

	template *Template
	params   *ast.Term
}

// Template returns the constraint's template.
func (c *Constraint) Template() *Template { return c.template }

// newConstraint validates o against its template.
func newConstraint(o *k8s.Object, t *Template) (*Constraint, error) {
	c := &Constraint{Kind: o.Kind(), Name: o.Name(), Source: o, template: t}
	if c.Name == "" {
		return nil, errors.New("metadata.name is required")
	}
	spec, _ := o.Content["spec"].(map[string]any)
	if raw, present := spec["spec"]; present && raw != nil {
		return nil, errors.New("spec.spec is not a constraint field (parameters go under spec.parameters)")
	}
	m, err := parseMatch(spec["match"])
	if err != nil {
		return nil, err
	}
	c.Match = m
	c.EnforcementAction, err = enforcementAction(spec)
	if err != nil {
		return nil, err
	}
	params := map[string]any{}
	raw, present := spec["parameters"]
	if present && raw != nil {
		p, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: spec.parameters must be an object", ErrSchema)
		}
		params = p
	}
	if err := t.validateParameters(params); err != nil {
		return nil, err
	}
	if present && raw != nil {
		// Schema defaults apply inside a spec.parameters that is there,
		// as the API server applies them; an absent one stays {}.
		if params, err = t.defaultParameters(params); err != nil {
			return nil, fmt.Errorf("spec.parameters: %w", err)
		}
	}
	c.Parameters = params
	v, err := ast.InterfaceToValue(params)
	if err != nil {
		return nil, fmt.Errorf("spec.parameters: %w", err)
	}
	c.params = ast.NewTerm(v)
	c.Check, err = checkFromAnnotations(o, t, c.EnforcementAction)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// enforcementAction reads spec.enforcementAction. "scoped" resolves to the
// strictest action among spec.scopedEnforcementActions.
func enforcementAction(spec map[string]any) (string, error) {
	if raw, present := spec["enforcementAction"]; present && raw != nil {
		if _, ok := raw.(string); !ok {
			return "", fmt.Errorf("%w: spec.enforcementAction must be a string", ErrSchema)
		}
	}
	a := str(spec["enforcementAction"])
	switch a {
	case "":
		return ActionDeny, nil
	case ActionDeny, ActionDryRun, ActionWarn:
		return a, nil
	case "scoped":
		best := ""
		rank := map[string]int{ActionDryRun: 1, ActionWarn: 2, ActionDeny: 3}
		items, _ := spec["scopedEnforcementActions"].([]any)
		for _, it := range items {
			act := str(dig(asMap(it), "action"))
			if rank[act] > rank[best] {
				best = act
			}
		}
		if best == "" {
			return "", errors.New("spec.enforcementAction is scoped but spec.scopedEnforcementActions names no deny, warn or dryrun action")
		}
		return best, nil
	}
	return "", fmt.Errorf("spec.enforcementAction: %q is not one of deny, dryrun, warn, scoped", a)
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// checkFromAnnotations builds the catalog entry for a constraint.
func checkFromAnnotations(o *k8s.Object, t *Template, action string) (controls.Check, error) {
	ann := o.Annotations()
	tann := t.Source.Annotations()
	ch := controls.Check{
		ID:          ann[AnnotationCheck],
		Title:       firstNonEmpty(ann[AnnotationTitle], tann[AnnotationTitle], tann["metadata.gatekeeper.sh/title"], t.Kind),
		Remediation: firstNonEmpty(ann[AnnotationRemediation], tann[AnnotationRemediation], tann["description"]),
		Anchor:      firstNonEmpty(ann[AnnotationAnchor], tann[AnnotationAnchor]),
		Engine:      controls.EnginePolicy,
		Scope:       firstNonEmpty(ann[AnnotationScope], tann[AnnotationScope]),
	}
	if ch.ID == "" {
		ch.ID = o.Kind() + "/" + o.Name()
	}
	for _, r := range strings.Split(firstNonEmpty(ann[AnnotationRequirements], tann[AnnotationRequirements]), ",") {
		if r = strings.TrimSpace(r); r != "" {
			ch.Requirements = append(ch.Requirements, r)
		}
	}
	if len(ch.Requirements) == 0 {
		ch.Requirements = []string{controls.Custom}
	}
	if s := firstNonEmpty(ann[AnnotationSeverity], tann[AnnotationSeverity]); s != "" {
		sev, err := controls.ParseSeverity(s)
		if err != nil || sev > controls.Critical {
			return ch, fmt.Errorf("annotation %s: unknown severity %q", AnnotationSeverity, s)
		}
		ch.Severity = sev
	} else {
		switch action {
		case ActionDeny:
			ch.Severity = controls.High
		case ActionWarn:
			ch.Severity = controls.Medium
		default:
			ch.Severity = controls.Low
		}
	}
	if err := ch.Validate(); err != nil {
		return ch, err
	}
	return ch, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
