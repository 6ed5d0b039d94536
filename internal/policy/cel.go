package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/apiserver/pkg/cel/lazy"
)

// CELEngine is the engine name of Gatekeeper's CEL code in a template
// (spec.targets[].code[].engine).
const CELEngine = "K8sNativeValidation"

// A celTemplate is the K8sNativeValidation code of a template: the
// ValidatingAdmissionPolicy-style matchConditions, variables and
// validations Gatekeeper runs with its CEL engine. Expressions see
// object, oldObject, request, params (the constraint), namespaceObject
// and variables, with Gatekeeper's variables.params (the constraint's
// spec.parameters) and variables.anyObject (object, or oldObject for a
// DELETE) ahead of the template's own.
type celTemplate struct {
	matchConditions []celExpr
	variables       []celExpr
	validations     []celValidation
}

type celExpr struct {
	name, source string
	prg          cel.Program
}

type celValidation struct {
	expr    celExpr
	message string
	msgExpr *celExpr
}

// celEnv is the Kubernetes CEL environment (the libraries the API server
// offers ValidatingAdmissionPolicies) with the variables of a template's
// expressions.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	base := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()).StoredExpressionsEnv()
	return base.Extend(
		cel.Variable("object", cel.DynType),
		cel.Variable("oldObject", cel.DynType),
		cel.Variable("request", cel.DynType),
		cel.Variable("params", cel.DynType),
		cel.Variable("namespaceObject", cel.DynType),
		cel.Variable("variables", cel.MapType(cel.StringType, cel.DynType)),
	)
})

// Gatekeeper's own variables, ahead of the template's.
var celBuiltinVariables = []struct{ name, source string }{
	{"params", `has(params.spec) && has(params.spec.parameters) ? params.spec.parameters : null`},
	{"anyObject", `object == null ? oldObject : object`},
}

// compileCEL compiles the source of a K8sNativeValidation code entry.
func compileCEL(source map[string]any) (*celTemplate, error) {
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("CEL environment: %w", err)
	}
	compile := func(field, name, src string) (celExpr, error) {
		ast, iss := env.Compile(src)
		if iss.Err() != nil {
			return celExpr{}, fmt.Errorf("%s: %s", field, strings.TrimSpace(iss.Err().Error()))
		}
		prg, err := env.Program(ast,
			cel.CostLimit(celconfig.PerCallLimit),
			cel.InterruptCheckFrequency(100),
			cel.EvalOptions(cel.OptOptimize),
		)
		if err != nil {
			return celExpr{}, fmt.Errorf("%s: %w", field, err)
		}
		return celExpr{name: name, source: src, prg: prg}, nil
	}
	t := &celTemplate{}
	for i, v := range celBuiltinVariables {
		e, err := compile(fmt.Sprintf("gatekeeper variable %d", i), v.name, v.source)
		if err != nil {
			return nil, err
		}
		t.variables = append(t.variables, e)
	}
	seen := map[string]bool{"params": true, "anyObject": true}
	for i, raw := range list(source["variables"]) {
		m, _ := raw.(map[string]any)
		name, src := str(m["name"]), str(m["expression"])
		field := fmt.Sprintf("source.variables[%d]", i)
		if name == "" || src == "" {
			return nil, fmt.Errorf("%s: name and expression are required", field)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s: variable %q is defined twice (params and anyObject are Gatekeeper's)", field, name)
		}
		seen[name] = true
		e, err := compile(field+".expression", name, src)
		if err != nil {
			return nil, err
		}
		t.variables = append(t.variables, e)
	}
	for i, raw := range list(source["matchConditions"]) {
		m, _ := raw.(map[string]any)
		field := fmt.Sprintf("source.matchConditions[%d]", i)
		if str(m["expression"]) == "" {
			return nil, fmt.Errorf("%s: expression is required", field)
		}
		e, err := compile(field+".expression", str(m["name"]), str(m["expression"]))
		if err != nil {
			return nil, err
		}
		t.matchConditions = append(t.matchConditions, e)
	}
	for i, raw := range list(source["validations"]) {
		m, _ := raw.(map[string]any)
		field := fmt.Sprintf("source.validations[%d]", i)
		if str(m["expression"]) == "" {
			return nil, fmt.Errorf("%s: expression is required", field)
		}
		e, err := compile(field+".expression", "", str(m["expression"]))
		if err != nil {
			return nil, err
		}
		v := celValidation{expr: e, message: str(m["message"])}
		if me := str(m["messageExpression"]); me != "" {
			e, err := compile(field+".messageExpression", "", me)
			if err != nil {
				return nil, err
			}
			v.msgExpr = &e
		}
		t.validations = append(t.validations, v)
	}
	if len(t.validations) == 0 {
		return nil, errors.New("source.validations is empty")
	}
	return t, nil
}

// eval evaluates constraint c on the review of ev: one violation per
// validation whose expression is false. An expression that fails or does
// not give a bool is the constraint's error, as in Gatekeeper.
func (t *celTemplate) eval(ev *evaluation, c *Constraint) ([]Result, error) {
	if ev.ctx.Err() != nil {
		return nil, ev.deadline(c)
	}
	in := ev.celInput()
	params := map[string]any{}
	for k, v := range c.Source.Content {
		params[k] = v
	}
	spec := map[string]any{}
	if s, ok := c.Source.Content["spec"].(map[string]any); ok {
		for k, v := range s {
			spec[k] = v
		}
	}
	if _, ok := spec["parameters"]; ok {
		// With the schema's defaults; absent parameters stay absent, so
		// that variables.params is null as in Gatekeeper.
		spec["parameters"] = celNative(c.Parameters)
	}
	params["spec"] = spec
	vars := lazy.NewMapValue(types.NewMapType(types.StringType, types.DynType))
	act := map[string]any{
		"object":          in.object,
		"oldObject":       in.oldObject,
		"request":         in.request,
		"params":          celNative(params),
		"namespaceObject": in.namespace,
		"variables":       vars,
	}
	activation, err := interpreter.NewActivation(act)
	if err != nil {
		return nil, &EvalError{Constraint: c, Err: err}
	}
	for _, v := range t.variables {
		v := v
		vars.Append(v.name, func(*lazy.MapValue) ref.Val {
			out, _, err := v.prg.ContextEval(ev.ctx, activation)
			if err != nil {
				return types.WrapErr(fmt.Errorf("variable %q: %w", v.name, err))
			}
			return out
		})
	}
	evalBool := func(e celExpr, what string) (bool, error) {
		out, _, err := e.prg.ContextEval(ev.ctx, activation)
		if err != nil {
			if ev.ctx.Err() != nil {
				return false, ev.deadline(c)
			}
			return false, &EvalError{Constraint: c, Err: fmt.Errorf("%s %q: %w", what, e.source, err)}
		}
		b, ok := out.Value().(bool)
		if !ok {
			return false, &EvalError{Constraint: c, Err: fmt.Errorf("%s %q gave %s, not a bool", what, e.source, out.Type().TypeName())}
		}
		return b, nil
	}
	for _, m := range t.matchConditions {
		ok, err := evalBool(m, "matchCondition")
		if err != nil || !ok {
			return nil, err
		}
	}
	var out []Result
	for _, v := range t.validations {
		ok, err := evalBool(v.expr, "validation")
		if err != nil {
			return out, err
		}
		if ok {
			continue
		}
		out = append(out, Result{Constraint: c, Msg: v.messageFor(ev, activation), EnforcementAction: c.EnforcementAction})
	}
	return out, nil
}

// messageFor is the message of a failed validation: its messageExpression
// when that gives a non-empty string, else its message, else the
// expression, as the API server words it.
func (v celValidation) messageFor(ev *evaluation, activation interpreter.Activation) string {
	if v.msgExpr != nil {
		out, _, err := v.msgExpr.prg.ContextEval(ev.ctx, activation)
		if err == nil {
			if s, ok := out.Value().(string); ok && strings.TrimSpace(s) != "" {
				return s
			}
		}
	}
	if v.message != "" {
		return v.message
	}
	return "failed expression: " + strings.TrimSpace(v.expr.source)
}

// celReview is the review in the form CEL expressions see it, built once
// per review.
type celReview struct {
	object, oldObject, request, namespace any
}

func (ev *evaluation) celInput() *celReview {
	if ev.cel != nil {
		return ev.cel
	}
	r := ev.request
	in := &celReview{}
	if r != nil {
		req := celNative(r.Review).(map[string]any)
		in.request, in.object, in.oldObject = req, req["object"], req["oldObject"]
		if ns, _ := r.Review["namespace"].(string); ns != "" && r.NamespaceLabels != nil {
			labels := map[string]any{}
			for k, v := range r.NamespaceLabels {
				labels[k] = v
			}
			in.namespace = map[string]any{
				"apiVersion": "v1", "kind": "Namespace",
				"metadata": map[string]any{"name": ns, "labels": labels},
			}
		}
	}
	ev.cel = in
	return in
}

// celNative converts a decoded JSON document for CEL: numbers become int64
// when they are integers (as in the API server's unstructured objects),
// float64 otherwise.
func celNative(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = celNative(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = celNative(x)
		}
		return out
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v)
		}
		return v
	case int:
		return int64(v)
	case int32:
		return int64(v)
	case map[string]string:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = x
		}
		return out
	default:
		return v
	}
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}
