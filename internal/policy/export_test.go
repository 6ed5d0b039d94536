package policy

// WithRegoOnly evaluates native templates as Rego.
func WithRegoOnly() Option { return func(e *Engine) { e.regoOnly = true } }

// IsNative reports whether t is evaluated without Rego.
func (t *Template) IsNative() bool { return t.native != nil }
