package policy

import (
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// A native template is one whose Rego is only a call of one of bulwark's
// builtins: its constraints are evaluated by calling the builtin directly,
// which gives the same violations without the cost of a Rego evaluation
// (about 6 µs per constraint, most of a Pod Security Standards check).
// The template is recognised by its parsed rules, so a template that
// changes anything in them, or adds a rule or a lib, is evaluated as Rego.
type evalFunc func(ev *evaluation, c *Constraint) ([]Result, error)

// podSecurityRule is the violation rule of the library's
// BulwarkPodSecurity template (checks/shared-podsecurity).
const podSecurityRule = `package native

violation[{"msg": r.msg, "details": {"check": r.check, "level": input.parameters.level, "reason": r.reason, "detail": r.detail}}] {
  r := bulwark.pod_security_review(input.review.object, input.parameters)[_]
}
`

type nativeRule struct {
	rule *ast.Rule
	fn   evalFunc
}

// nativeRules are the rules evaluated natively. A rule that does not
// parse (TestNativeOf parses each) is left out, so its templates run as
// Rego.
var nativeRules = sync.OnceValue(func() []nativeRule {
	var out []nativeRule
	for _, n := range []struct {
		src string
		fn  evalFunc
	}{{podSecurityRule, (*evaluation).podSecurity}} {
		m, err := ast.ParseModuleWithOpts("native.rego", n.src, ast.ParserOptions{RegoVersion: ast.RegoV0})
		if err != nil || len(m.Rules) != 1 {
			continue
		}
		out = append(out, nativeRule{m.Rules[0], n.fn})
	}
	return out
})

// nativeOf returns the native evaluation of a template made of modules,
// or nil.
func nativeOf(modules []*ast.Module) evalFunc {
	if len(modules) != 1 {
		return nil
	}
	m := modules[0]
	if len(m.Rules) != 1 {
		return nil
	}
	for _, imp := range m.Imports {
		// future.keywords and rego.v1 change the syntax, not the rule.
		p := imp.Path.String()
		if p != "future.keywords" && p != "rego.v1" && !hasPrefixRef(p, "future.keywords.") {
			return nil
		}
	}
	r := m.Rules[0]
	for _, n := range nativeRules() {
		if r.Default == n.rule.Default && r.Else == nil && r.Head.Compare(n.rule.Head) == 0 && r.Body.Compare(n.rule.Body) == 0 {
			return n.fn
		}
	}
	return nil
}

func hasPrefixRef(s, prefix string) bool { return len(s) > len(prefix) && s[:len(prefix)] == prefix }

// podSecurity evaluates a constraint of the BulwarkPodSecurity template.
// As in Rego, an undefined input.review.object or an error of the builtin
// (which is not strict) leaves the violation rule empty.
func (ev *evaluation) podSecurity(c *Constraint) ([]Result, error) {
	if ev.ctx.Err() != nil {
		return nil, ev.deadline(c)
	}
	if ev.object == nil {
		return nil, nil
	}
	res, err := podSecurityReviewBuiltin(rego.BuiltinContext{Context: ev.ctx}, ev.object, c.params)
	if err != nil {
		return nil, nil
	}
	arr, ok := res.Value.(*ast.Array)
	if !ok || arr.Len() == 0 {
		return nil, nil
	}
	// The builtin has checked that the parameters are an object with a
	// level.
	params, _ := c.params.Value.(ast.Object)
	level := params.Get(ast.StringTerm("level"))
	set := ast.NewSet()
	arr.Foreach(func(t *ast.Term) {
		o, ok := t.Value.(ast.Object)
		if !ok {
			return
		}
		msg, check, reason, detail := o.Get(ast.StringTerm("msg")), o.Get(ast.StringTerm("check")), o.Get(ast.StringTerm("reason")), o.Get(ast.StringTerm("detail"))
		if msg == nil || check == nil || reason == nil || detail == nil {
			// A field Rego finds undefined makes that violation undefined.
			return
		}
		set.Add(ast.ObjectTerm(
			[2]*ast.Term{ast.StringTerm("msg"), msg},
			[2]*ast.Term{ast.StringTerm("details"), ast.ObjectTerm(
				[2]*ast.Term{ast.StringTerm("check"), check},
				[2]*ast.Term{ast.StringTerm("level"), level},
				[2]*ast.Term{ast.StringTerm("reason"), reason},
				[2]*ast.Term{ast.StringTerm("detail"), detail},
			)},
		))
	})
	return results(c, ast.NewTerm(set))
}
