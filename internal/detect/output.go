package detect

import (
	"fmt"
	"strings"
)

// notAvailable is how Falco prints a field without a value.
const notAvailable = "<NA>"

// outputFormat is a compiled rule output: literal text and fields.
type outputFormat struct {
	parts  []outputPart
	fields []*fieldRef
}

type outputPart struct {
	lit string
	ref *fieldRef
}

// compileOutput parses a Falco output string: %field, %field[arg] and
// %(field) (also %(field[arg])) are replaced by the field's value.
func (cp *compiler) compileOutput(out string) (*outputFormat, error) {
	f := &outputFormat{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			f.parts = append(f.parts, outputPart{lit: lit.String()})
			lit.Reset()
		}
	}
	seen := map[*fieldRef]bool{}
	for i := 0; i < len(out); {
		c := out[i]
		if c != '%' || i+1 >= len(out) {
			lit.WriteByte(c)
			i++
			continue
		}
		paren := out[i+1] == '('
		start := i + 1
		if paren {
			start++
		}
		p := &parser{in: out, pos: start}
		name := p.lexName()
		if name == "" || !strings.Contains(name, ".") {
			lit.WriteByte(c)
			i++
			continue
		}
		fe := fieldExpr{pos: start, name: name}
		if err := p.parseFieldArg(&fe); err != nil {
			return nil, fmt.Errorf("output: %v", err)
		}
		if !fe.hasArg && !paren {
			// Text may follow a field directly ("%ka.user.name.suffix"):
			// use the longest known field.
			n := fe.name
			for {
				if _, ok := fieldTable()[n]; ok {
					break
				}
				j := strings.LastIndexByte(n, '.')
				if j < 0 {
					n = fe.name
					break
				}
				n = n[:j]
			}
			if strings.Contains(n, ".") {
				fe.name = n
				p.pos = start + len(n)
			}
		}
		if paren {
			if p.pos >= len(out) || out[p.pos] != ')' {
				return nil, fmt.Errorf("output: missing ')' after %%(%s", fe)
			}
			p.pos++
		}
		ref, err := cp.fieldRef(fe)
		if err != nil {
			return nil, fmt.Errorf("output: %v", err)
		}
		flush()
		f.parts = append(f.parts, outputPart{ref: ref})
		if !seen[ref] {
			seen[ref] = true
			f.fields = append(f.fields, ref)
		}
		i = p.pos
	}
	flush()
	return f, nil
}

// renderValue renders a field as Falco does: a list as (a,b), a missing
// value as <NA>.
func renderValue(c *evalCtx, ref *fieldRef) string {
	vals, ok := c.values(ref)
	if !ok {
		return notAvailable
	}
	if isListField(ref) {
		return "(" + strings.Join(vals, ",") + ")"
	}
	return vals[0]
}

// render produces the output text and the fields it used.
func (f *outputFormat) render(c *evalCtx) (string, map[string]string) {
	fields := make(map[string]string, len(f.fields))
	for _, ref := range f.fields {
		fields[ref.text] = renderValue(c, ref)
	}
	var b strings.Builder
	for _, p := range f.parts {
		if p.ref == nil {
			b.WriteString(p.lit)
		} else {
			b.WriteString(fields[p.ref.text])
		}
	}
	return b.String(), fields
}
