package policy

import "context"

// WithRegoOnly evaluates native templates as Rego.
func WithRegoOnly() Option { return func(e *Engine) { e.regoOnly = true } }

// IsNative reports whether t is evaluated without Rego.
func (t *Template) IsNative() bool { return t.native != nil }

func (e *Engine) EvalForTest(ctx context.Context, r *Request, cs []*Constraint) ([]Result, error) {
	return e.evaluate(ctx, r, cs)
}
