package verify

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// SuiteGroup is the API group of test suites.
const SuiteGroup = "test.gatekeeper.sh"

// Suite is a file of tests.
type Suite struct {
	Name  string
	Path  string
	Line  int
	Tests []Test
	Skip  bool
}

// Test pairs a template with a constraint and the cases run against them.
type Test struct {
	Name       string
	Template   string
	Constraint string
	Cases      []Case
	// Invalid expects the constraint not to fit the template's schema.
	Invalid bool
	Skip    bool
}

// Case reviews one object.
type Case struct {
	Name       string
	Object     string
	Inventory  []string
	Assertions []Assertion
	Skip       bool
}

// Assertion is a statement about the violations of a case. Violations is
// nil ("yes"), an exact count, or "yes"/"no"; Message is an unanchored
// regular expression the counted violations' messages must match.
type Assertion struct {
	Violations *Count
	Message    *regexp.Regexp
	raw        string
}

// Count is the violations field: an integer, "yes" or "no".
type Count struct {
	Exact int // -1 for yes/no
	Yes   bool
}

// IsSuite reports whether o is a test suite.
func IsSuite(o *k8s.Object) bool {
	gvk := o.GroupVersionKind()
	return gvk.Group == SuiteGroup && gvk.Kind == "Suite"
}

// ParseSuite decodes a Suite object.
func ParseSuite(o *k8s.Object) (*Suite, error) {
	s := &Suite{Name: o.Name(), Path: o.File, Line: o.Line, Skip: truthy(o.Content["skip"])}
	tests, ok := o.Content["tests"].([]any)
	if !ok && o.Content["tests"] != nil {
		return nil, fmt.Errorf("tests must be a list")
	}
	for i, raw := range tests {
		tm, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("tests[%d] must be a mapping", i)
		}
		t := Test{
			Name:       str(tm["name"]),
			Template:   str(tm["template"]),
			Constraint: str(tm["constraint"]),
			Invalid:    truthy(tm["invalid"]),
			Skip:       truthy(tm["skip"]),
		}
		if t.Name == "" {
			t.Name = fmt.Sprintf("tests[%d]", i)
		}
		cases, ok := tm["cases"].([]any)
		if !ok && tm["cases"] != nil {
			return nil, fmt.Errorf("test %q: cases must be a list", t.Name)
		}
		for j, rc := range cases {
			cm, ok := rc.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("test %q: cases[%d] must be a mapping", t.Name, j)
			}
			c := Case{Name: str(cm["name"]), Object: str(cm["object"]), Skip: truthy(cm["skip"])}
			if c.Name == "" {
				c.Name = fmt.Sprintf("cases[%d]", j)
			}
			for _, inv := range asList(cm["inventory"]) {
				c.Inventory = append(c.Inventory, str(inv))
			}
			for k, ra := range asList(cm["assertions"]) {
				a, err := parseAssertion(ra)
				if err != nil {
					return nil, fmt.Errorf("test %q case %q: assertions[%d]: %w", t.Name, c.Name, k, err)
				}
				c.Assertions = append(c.Assertions, a)
			}
			t.Cases = append(t.Cases, c)
		}
		s.Tests = append(s.Tests, t)
	}
	return s, nil
}

func parseAssertion(raw any) (Assertion, error) {
	m, ok := raw.(map[string]any)
	if !ok {
		return Assertion{}, fmt.Errorf("must be a mapping")
	}
	var a Assertion
	var desc []string
	if v, present := m["violations"]; present && v != nil {
		c, err := parseCount(v)
		if err != nil {
			return Assertion{}, err
		}
		a.Violations = c
		desc = append(desc, fmt.Sprintf("violations: %v", v))
	}
	if v, present := m["message"]; present && v != nil {
		s, ok := v.(string)
		if !ok {
			return Assertion{}, fmt.Errorf("message must be a string")
		}
		re, err := regexp.Compile(s)
		if err != nil {
			return Assertion{}, fmt.Errorf("message %q is not a valid regular expression: %w", s, err)
		}
		a.Message = re
		desc = append(desc, fmt.Sprintf("message: %q", s))
	}
	a.raw = strings.Join(desc, ", ")
	return a, nil
}

// parseCount accepts an integer, "yes", "no", or a YAML boolean.
func parseCount(v any) (*Count, error) {
	bad := fmt.Errorf(`violations must be a non-negative integer, "yes" or "no" (got %v)`, v)
	switch x := v.(type) {
	case bool:
		return &Count{Exact: -1, Yes: x}, nil
	case json.Number:
		n, err := strconv.Atoi(x.String())
		if err != nil || n < 0 {
			return nil, bad
		}
		return &Count{Exact: n}, nil
	case string:
		switch strings.ToLower(x) {
		case "yes", "true":
			return &Count{Exact: -1, Yes: true}, nil
		case "no", "false":
			return &Count{Exact: -1, Yes: false}, nil
		}
		if n, err := strconv.Atoi(x); err == nil && n >= 0 {
			return &Count{Exact: n}, nil
		}
	}
	return nil, bad
}

// Check runs the assertion on the messages of a review's violations.
func (a Assertion) Check(msgs []string) error {
	matching := 0
	for _, m := range msgs {
		if a.Message == nil || a.Message.MatchString(m) {
			matching++
		}
	}
	what := "violations"
	if a.Message != nil {
		what = fmt.Sprintf("violations matching %q", a.Message.String())
	}
	c := a.Violations
	if c == nil {
		c = &Count{Exact: -1, Yes: true}
	}
	var err error
	switch {
	case c.Exact >= 0 && matching != c.Exact:
		err = fmt.Errorf("got %d %s but want exactly %d", matching, what, c.Exact)
	case c.Exact < 0 && c.Yes && matching == 0:
		err = fmt.Errorf("got 0 %s but want at least 1", what)
	case c.Exact < 0 && !c.Yes && matching > 0:
		err = fmt.Errorf("got %d %s but want none", matching, what)
	}
	if err != nil {
		return fmt.Errorf("%w; messages: %q", err, msgs)
	}
	return nil
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(x, "true") || strings.EqualFold(x, "yes")
	}
	return false
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
