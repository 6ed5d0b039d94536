package detect

import (
	"fmt"
	"slices"
	"strings"
)

// exceptionComps are the operators an exception may use.
var exceptionComps = []string{"=", "==", "!=", "<", "<=", ">", ">=", "contains", "icontains", "startswith", "endswith",
	"glob", "iglob", "regex", "in", "intersects", "pmatch"}

// parseFieldString parses an exception field such as "ka.uri.param[x]".
func parseFieldString(s string) (fieldExpr, error) {
	p := &parser{in: s}
	name := p.lexName()
	if name == "" || !strings.Contains(name, ".") {
		return fieldExpr{}, fmt.Errorf("%q is not a field name", s)
	}
	f := fieldExpr{name: name}
	if err := p.parseFieldArg(&f); err != nil {
		return fieldExpr{}, err
	}
	if p.pos != len(s) {
		return fieldExpr{}, fmt.Errorf("%q is not a field name", s)
	}
	return f, nil
}

// exceptionExpr turns a rule exception into the expression it excludes:
// the or of its value tuples, each the and of field-comp-value checks.
// It returns nil when the exception has no values.
func exceptionExpr(ex *exceptionDef) (expr, error) {
	if len(ex.values) == 0 {
		return nil, nil
	}
	fields := make([]fieldExpr, len(ex.fields))
	for i, s := range ex.fields {
		f, err := parseFieldString(s)
		if err != nil {
			return nil, err
		}
		fields[i] = f
	}
	comps := ex.comps
	if !ex.compsSet {
		comps = make([]string, len(fields))
		for i := range comps {
			comps[i] = "="
		}
		if !ex.fieldsList {
			comps = []string{"in"}
		}
	}
	for _, c := range comps {
		if !slices.Contains(exceptionComps, c) {
			return nil, fmt.Errorf("comparison operator %q is not a supported comparison operator (want one of %s)", c, strings.Join(exceptionComps, ", "))
		}
	}

	if !ex.fieldsList {
		// Single field: "fields: f, comps: in, values: [a, b]".
		if ex.compsList || !listOps[comps[0]] {
			return nil, fmt.Errorf("with a single field, comps must be one of in, intersects, pmatch (got %v)", ex.comps)
		}
		ch := &checkExpr{pos: -1, field: fields[0], op: comps[0]}
		for _, v := range ex.values {
			for _, s := range flatten(v) {
				ch.values = append(ch.values, valueExpr{pos: -1, s: s})
			}
		}
		return ch, nil
	}

	if !ex.compsList && ex.compsSet {
		return nil, fmt.Errorf("fields is a list, so comps must be a list too")
	}
	if len(comps) != len(fields) {
		return nil, fmt.Errorf("fields and comps lists must have equal length (%d fields, %d comps)", len(fields), len(comps))
	}
	var tuples []expr
	for _, v := range ex.values {
		if !v.isList || len(v.list) != len(fields) {
			return nil, fmt.Errorf("value %s at line %d: fields and values lists must have equal length (%d fields)", v, v.line, len(fields))
		}
		var checks []expr
		for i, item := range v.list {
			ch := &checkExpr{pos: -1, field: fields[i], op: comps[i]}
			switch {
			case listOps[comps[i]]:
				for _, s := range flatten(item) {
					ch.values = append(ch.values, valueExpr{pos: -1, s: s})
				}
			case item.isList:
				return nil, fmt.Errorf("value %s at line %d: a list is only allowed with in, intersects or pmatch, not %s", item, item.line, comps[i])
			default:
				ch.values = []valueExpr{{pos: -1, s: item.s}}
			}
			checks = append(checks, ch)
		}
		if len(checks) == 1 {
			tuples = append(tuples, checks[0])
		} else {
			tuples = append(tuples, &andExpr{pos: -1, list: checks})
		}
	}
	if len(tuples) == 1 {
		return tuples[0], nil
	}
	return &orExpr{pos: -1, list: tuples}, nil
}

// flatten returns the scalars of an exception value.
func flatten(v excValue) []string {
	if !v.isList {
		return []string{v.s}
	}
	var out []string
	for _, x := range v.list {
		out = append(out, flatten(x)...)
	}
	return out
}

func (v excValue) String() string {
	if !v.isList {
		return fmt.Sprintf("%q", v.s)
	}
	parts := make([]string, len(v.list))
	for i, x := range v.list {
		parts[i] = x.String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
