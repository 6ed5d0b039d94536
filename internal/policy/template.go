package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// TemplateGroup is the API group of ConstraintTemplates.
const TemplateGroup = "templates.gatekeeper.sh"

// ConstraintGroup is the API group of constraints.
const ConstraintGroup = "constraints.gatekeeper.sh"

// Target is the only Gatekeeper target Bulwark evaluates.
const Target = "admission.k8s.gatekeeper.sh"

// ErrSchema marks constraint parameters that do not fit their template's
// schema.
var ErrSchema = errors.New("parameters do not match the template's schema")

// Template is a compiled ConstraintTemplate.
type Template struct {
	// Name is metadata.name; Kind is the constraint kind it defines.
	Name string
	Kind string
	// Source is the object the template was read from.
	Source *k8s.Object

	// query evaluates the violation rule for one constraint, whose
	// {"review", "parameters"} is the input.
	query rego.PreparedEvalQuery
	// batch evaluates it for several constraints in one query, as
	// Gatekeeper's driver does: see batchQuery. It is compiled when first
	// needed (most templates have one constraint).
	batch func() (rego.PreparedEvalQuery, error)
	// native, when set, evaluates a constraint without Rego: see nativeOf.
	native    evalFunc
	validator validation.SchemaValidator
	// structural is the parameters schema in structural form, for its
	// defaults; nil when the schema is not structural.
	structural *structuralschema.Structural
}

// IsTemplate reports whether o is a ConstraintTemplate.
func IsTemplate(o *k8s.Object) bool {
	gvk := o.GroupVersionKind()
	return gvk.Group == TemplateGroup && gvk.Kind == "ConstraintTemplate"
}

// IsConstraint reports whether o is a constraint (any kind in the
// constraints.gatekeeper.sh group).
func IsConstraint(o *k8s.Object) bool {
	return o.GroupVersionKind().Group == ConstraintGroup
}

type regoSource struct {
	rego    string
	libs    []string
	version string
}

// compileTemplate parses and compiles a ConstraintTemplate object.
func compileTemplate(ctx context.Context, o *k8s.Object, store storage.Store, opts []func(*rego.Rego)) (*Template, error) {
	if !IsTemplate(o) {
		return nil, fmt.Errorf("not a ConstraintTemplate: %s %s", o.APIVersion(), o.Kind())
	}
	spec, _ := o.Content["spec"].(map[string]any)
	kind := str(dig(spec, "crd", "spec", "names", "kind"))
	if kind == "" {
		return nil, errors.New("spec.crd.spec.names.kind is required")
	}
	name := o.Name()
	if name != strings.ToLower(kind) {
		return nil, fmt.Errorf("template's name %q is not equal to the lowercase of its CRD kind %q", name, strings.ToLower(kind))
	}
	t := &Template{Name: name, Kind: kind, Source: o}

	if raw := dig(spec, "crd", "spec", "validation", "openAPIV3Schema"); raw != nil {
		v, internal, err := newValidator(raw)
		if err != nil {
			return nil, fmt.Errorf("spec.crd.spec.validation.openAPIV3Schema: %w", err)
		}
		t.validator = v
		if st, err := structuralschema.NewStructural(internal); err == nil {
			t.structural = st
		}
	}

	src, celSource, err := targetCode(spec)
	if err != nil {
		return nil, err
	}
	if celSource != nil {
		ct, err := compileCEL(celSource)
		if err != nil {
			return nil, fmt.Errorf("spec.targets[0].code[engine=%s]: %w", CELEngine, err)
		}
		t.native = ct.eval
		return t, nil
	}
	modules, pkg, err := parseModules(name, src)
	if err != nil {
		return nil, err
	}
	ropts := []func(*rego.Rego){
		nil, // the query
		rego.Store(store),
		rego.StrictBuiltinErrors(false),
		rego.UnsafeBuiltins(unsafeBuiltins),
	}
	for _, m := range modules {
		ropts = append(ropts, rego.ParsedModule(m))
	}
	ropts = append(ropts, opts...)
	ropts[0] = rego.Query(pkg + ".violation")
	q, err := rego.New(ropts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("compile rego: %w", regoErr(err))
	}
	t.query = q
	t.native = nativeOf(modules)
	batchOpts := append([]func(*rego.Rego){rego.Query(batchQuery(pkg))}, ropts[1:]...)
	t.batch = sync.OnceValues(func() (rego.PreparedEvalQuery, error) {
		q, err := rego.New(batchOpts...).PrepareForEval(context.Background())
		if err != nil {
			return q, fmt.Errorf("compile rego: %w", regoErr(err))
		}
		return q, nil
	})
	return t, nil
}

// batchQuery is the query of Template.batch for a template whose main
// package is pkg (a data reference). Its input is {"inputs": [...]}, one
// {"review", "parameters"} per constraint; each evaluation of the
// violation rule sees one of them as its whole input, as Gatekeeper's
// driver does (with input as ...). The result maps the index of each
// constraint whose violation rule is defined to its value.
func batchQuery(pkg string) string {
	return "{i: v | x := input.inputs[i]; v := " + pkg + ".violation with input as x}"
}

// unsafeBuiltins are refused in templates: policy evaluation must not reach
// the network or the host.
var unsafeBuiltins = map[string]struct{}{
	"http.send":              {},
	"net.lookup_ip_addr":     {},
	"opa.runtime":            {},
	"providers.aws.sign_req": {},
}

// targetCode finds the code of the admission.k8s.gatekeeper.sh target:
// its Rego, or else the source of its K8sNativeValidation (CEL) code.
// Like Gatekeeper's audit and gator, a template with both runs its Rego.
func targetCode(spec map[string]any) (regoSource, map[string]any, error) {
	src, err := targetRego(spec)
	if err == nil || !errors.Is(err, errNoRego) {
		return src, nil, err
	}
	targets, _ := spec["targets"].([]any)
	tgt, _ := targets[0].(map[string]any)
	code, _ := tgt["code"].([]any)
	for _, c := range code {
		cm, _ := c.(map[string]any)
		if str(cm["engine"]) != CELEngine {
			continue
		}
		source, ok := cm["source"].(map[string]any)
		if !ok {
			return regoSource{}, nil, fmt.Errorf("spec.targets[0].code[engine=%s].source must be an object", CELEngine)
		}
		return regoSource{}, source, nil
	}
	return regoSource{}, nil, err
}

// errNoRego marks a target without Rego code.
var errNoRego = errors.New("no Rego code")

// targetRego finds the Rego of the admission.k8s.gatekeeper.sh target,
// either in targets[].rego/libs or in targets[].code[] with engine Rego.
func targetRego(spec map[string]any) (regoSource, error) {
	targets, _ := spec["targets"].([]any)
	if len(targets) == 0 {
		return regoSource{}, errors.New("spec.targets is empty")
	}
	if len(targets) > 1 {
		return regoSource{}, fmt.Errorf("spec.targets has %d entries; exactly one is supported", len(targets))
	}
	tgt, _ := targets[0].(map[string]any)
	if name := str(tgt["target"]); name != Target {
		return regoSource{}, fmt.Errorf("spec.targets[0].target is %q; only %q is supported", name, Target)
	}
	if r := str(tgt["rego"]); r != "" {
		return regoSource{rego: r, libs: strs(tgt["libs"])}, nil
	}
	code, _ := tgt["code"].([]any)
	var engines []string
	for _, c := range code {
		cm, _ := c.(map[string]any)
		engine := str(cm["engine"])
		engines = append(engines, engine)
		if engine != "Rego" {
			continue
		}
		source, _ := cm["source"].(map[string]any)
		if r := str(source["rego"]); r != "" {
			return regoSource{rego: r, libs: strs(source["libs"]), version: str(source["version"])}, nil
		}
		return regoSource{}, errors.New("spec.targets[0].code[engine=Rego].source.rego is empty")
	}
	if len(engines) > 0 {
		return regoSource{}, fmt.Errorf("%w: spec.targets[0] has no Rego or %s code (engines: %s)", errNoRego, CELEngine, strings.Join(engines, ", "))
	}
	return regoSource{}, fmt.Errorf("%w: spec.targets[0] has no rego", errNoRego)
}

// parseModules parses the template's rego and libs, returning the modules
// and the data path of the main package.
func parseModules(name string, src regoSource) ([]*ast.Module, string, error) {
	main, err := parseRego(name+".rego", src.rego, src.version)
	if err != nil {
		return nil, "", err
	}
	if !hasRule(main, "violation") {
		return nil, "", errors.New("rego has no violation rule")
	}
	mods := []*ast.Module{main}
	for i, lib := range src.libs {
		m, err := parseRego(fmt.Sprintf("%s.lib%d.rego", name, i), lib, src.version)
		if err != nil {
			return nil, "", fmt.Errorf("libs[%d]: %w", i, err)
		}
		if p := m.Package.Path.String(); !strings.HasPrefix(p, "data.lib.") && p != "data.lib" {
			return nil, "", fmt.Errorf("libs[%d]: package %s must start with lib", i, strings.TrimPrefix(p, "data."))
		}
		mods = append(mods, m)
	}
	return mods, main.Package.Path.String(), nil
}

// parseRego parses Rego as v0 (Gatekeeper's default), or v1 when the
// template says so; an unversioned module that is only valid v1 is
// accepted as v1.
func parseRego(file, src, version string) (*ast.Module, error) {
	m, err := parseRegoVersion(file, src, version)
	return m, regoErr(err)
}

// regoErr flattens OPA's error lists into one line per error.
func regoErr(err error) error {
	var errs ast.Errors
	if !errors.As(err, &errs) {
		return err
	}
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msg := e.Message
		if e.Location != nil {
			msg = fmt.Sprintf("%s:%d: %s", e.Location.File, e.Location.Row, e.Message)
		}
		msgs = append(msgs, msg)
	}
	return errors.New(strings.Join(msgs, "; "))
}

func parseRegoVersion(file, src, version string) (*ast.Module, error) {
	switch version {
	case "v1":
		return ast.ParseModuleWithOpts(file, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
	case "", "v0":
		m, err := ast.ParseModuleWithOpts(file, src, ast.ParserOptions{RegoVersion: ast.RegoV0})
		if err == nil || version == "v0" {
			return m, err
		}
		if m1, err1 := ast.ParseModuleWithOpts(file, src, ast.ParserOptions{RegoVersion: ast.RegoV1}); err1 == nil {
			return m1, nil
		}
		return nil, err
	default:
		return nil, fmt.Errorf("unknown rego version %q (want v0 or v1)", version)
	}
}

func hasRule(m *ast.Module, name string) bool {
	for _, r := range m.Rules {
		if r.Head.Name.String() == name || (len(r.Head.Reference) > 0 && r.Head.Reference[0].Value.Compare(ast.Var(name)) == 0) {
			return true
		}
	}
	return false
}

func newValidator(raw any) (validation.SchemaValidator, *apiextensions.JSONSchemaProps, error) {
	js, err := json.Marshal(raw)
	if err != nil {
		return nil, nil, err
	}
	var v1 apiextensionsv1.JSONSchemaProps
	if err := json.Unmarshal(js, &v1); err != nil {
		return nil, nil, err
	}
	var internal apiextensions.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(&v1, &internal, nil); err != nil {
		return nil, nil, err
	}
	v, _, err := validation.NewSchemaValidator(&internal)
	return v, &internal, err
}

// defaultParameters returns params with the schema's default values filled
// in, as the API server does for a constraint's spec.parameters (and gator,
// through the constraint framework's ApplyDefaultParams). params is not
// modified; without a structural schema it is returned as is.
func (t *Template) defaultParameters(params map[string]any) (map[string]any, error) {
	if t.structural == nil {
		return params, nil
	}
	js, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := utiljson.Unmarshal(js, &out); err != nil {
		return nil, err
	}
	if out == nil {
		out = map[string]any{}
	}
	defaulting.Default(out, t.structural)
	return out, nil
}

// validateParameters checks constraint parameters against the schema.
func (t *Template) validateParameters(params map[string]any) error {
	if t.validator == nil {
		return nil
	}
	js, err := json.Marshal(params)
	if err != nil {
		return err
	}
	var canonical any // int64 / float64 numbers, as the API server sees them
	if err := utiljson.Unmarshal(js, &canonical); err != nil {
		return err
	}
	if canonical == nil {
		canonical = map[string]any{}
	}
	errs := validation.ValidateCustomResource(field.NewPath("spec", "parameters"), canonical, t.validator)
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

func dig(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func strs(v any) []string {
	items, _ := v.([]any)
	out := make([]string, 0, len(items))
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
