package detect

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadError is an error in a rules file, naming the file, the line and
// the item (list, macro or rule) it is about.
type LoadError struct {
	File string
	// Line is 1-based; 0 when unknown.
	Line int
	// Item is the item the error is about, such as `rule "Create Privileged
	// Pod"`; empty for errors about the file as a whole.
	Item string
	Msg  string
}

func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Item != "" {
		b.WriteString(e.Item)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Warning is something in a rules file that loads but deserves attention
// (an unknown key, a deprecated form, a rule for another source).
type Warning struct {
	File string
	Line int
	Item string
	Msg  string
}

func (w Warning) String() string {
	if w.File == "" {
		return w.Msg
	}
	return (&LoadError{w.File, w.Line, w.Item, w.Msg}).Error()
}

// listDef, macroDef and ruleDef are the items of a rules file as loaded,
// after appends and overrides, before compilation.
type listDef struct {
	name  string
	items []string
	file  string
	line  int
	used  bool
}

type macroDef struct {
	name     string
	cond     string
	src      *condSource
	ast      expr
	parseErr error
	used     bool
}

type ruleDef struct {
	name        string
	desc        string
	cond        string
	src         *condSource
	output      string
	outputLine  int
	priority    Priority
	source      string
	tags        []string
	enabled     bool
	skipUnknown bool
	exceptions  []*exceptionDef
	file        string
	line        int
}

// exceptionDef is one entry of a rule's exceptions.
type exceptionDef struct {
	name string
	// fields and comps are lists, or single values when isList is false.
	fields, comps []string
	fieldsList    bool
	compsList     bool
	compsSet      bool
	values        []excValue
	file          string
	line          int
}

// excValue is an exception value: a scalar or a list of values.
type excValue struct {
	s      string
	list   []excValue
	isList bool
	line   int
}

// ruleset collects the items of rules files in load order, applying
// appends and overrides as Falco does.
type ruleset struct {
	lists     map[string]*listDef
	macros    map[string]*macroDef
	rules     []*ruleDef
	ruleIndex map[string]int
	warnings  []Warning
	errs      []error
	// engineVersion is the highest required_engine_version seen.
	engineVersion string
}

func newRuleset() *ruleset {
	return &ruleset{lists: map[string]*listDef{}, macros: map[string]*macroDef{}, ruleIndex: map[string]int{}}
}

var (
	rgxIdentifier = regexp.MustCompile(`^[a-zA-Z]+[a-zA-Z0-9_]*$`)
	rgxBareStr    = regexp.MustCompile(`^[^()"'\s=,]+$`)
	rgxYAMLLine   = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// item wraps one YAML mapping of a rules file with its location.
type item struct {
	rs   *ruleset
	file string
	node *yaml.Node
	what string // `rule "x"`, for errors
	keys map[string]*yaml.Node
}

// loadError stops the processing of one item.
type loadError struct{ err *LoadError }

func (it *item) fail(n *yaml.Node, format string, args ...any) {
	line := it.node.Line
	if n != nil {
		line = n.Line
	}
	panic(loadError{&LoadError{File: it.file, Line: line, Item: it.what, Msg: fmt.Sprintf(format, args...)}})
}

func (it *item) warn(n *yaml.Node, format string, args ...any) {
	line := it.node.Line
	if n != nil {
		line = n.Line
	}
	it.rs.warnings = append(it.rs.warnings, Warning{it.file, line, it.what, fmt.Sprintf(format, args...)})
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func (it *item) has(key string) bool { _, ok := it.keys[key]; return ok }

// scalar returns the non-empty scalar value of key.
func (it *item) scalar(key string, required bool) (string, *yaml.Node, bool) {
	n, ok := it.keys[key]
	if !ok {
		if required {
			it.fail(nil, "Item has no mapping for key '%s'", key)
		}
		return "", nil, false
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		it.fail(n, "Mapping for key '%s' is empty", key)
	}
	if n.Kind != yaml.ScalarNode {
		it.fail(n, "Value of '%s' is not a scalar value", key)
	}
	if n.Value == "" {
		it.fail(n, "Value of '%s' must be non-empty", key)
	}
	return n.Value, n, true
}

func (it *item) boolean(key string) (bool, bool) {
	s, n, ok := it.scalar(key, false)
	if !ok {
		return false, false
	}
	// The booleans yaml-cpp (Falco's YAML library) accepts.
	switch strings.ToLower(s) {
	case "true", "yes", "on", "y":
		return true, true
	case "false", "no", "off", "n":
		return false, true
	}
	it.fail(n, "Value of '%s' is not a boolean: %q", key, s)
	return false, false
}

// sequence returns the scalar items of a sequence-valued key.
func (it *item) sequence(key string, required bool) ([]string, bool) {
	n, ok := it.keys[key]
	if !ok {
		if required {
			it.fail(nil, "Item has no mapping for key '%s'", key)
		}
		return nil, false
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		it.fail(n, "Value of '%s' is not a sequence", key)
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		c = resolve(c)
		if c == nil || c.Kind != yaml.ScalarNode {
			it.fail(c, "Items of '%s' must be scalars", key)
		}
		out = append(out, c.Value)
	}
	return out, true
}

// parseRules reads one rules file into the ruleset.
func (rs *ruleset) parseRules(file string, data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			return
		}
		if err != nil {
			rs.errs = append(rs.errs, yamlError(file, err))
			return
		}
		root := &doc
		if root.Kind == yaml.DocumentNode {
			if len(root.Content) == 0 {
				continue
			}
			root = resolve(root.Content[0])
		}
		if root == nil || (root.Kind == yaml.ScalarNode && root.Tag == "!!null") {
			continue
		}
		if root.Kind != yaml.SequenceNode {
			rs.errs = append(rs.errs, &LoadError{File: file, Line: root.Line, Msg: "Rules content is not yaml array of objects"})
			return
		}
		for _, n := range root.Content {
			n = resolve(n)
			if n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
				continue
			}
			if err := rs.readItem(file, n); err != nil {
				// As Falco: the first error ends the file.
				rs.errs = append(rs.errs, err)
				return
			}
		}
	}
}

func yamlError(file string, err error) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := rgxYAMLLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &LoadError{File: file, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &LoadError{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// readItem reads one element of a rules file.
func (rs *ruleset) readItem(file string, n *yaml.Node) (err *LoadError) {
	it := &item{rs: rs, file: file, node: n, keys: map[string]*yaml.Node{}}
	defer func() {
		if r := recover(); r != nil {
			le, ok := r.(loadError)
			if !ok {
				panic(r)
			}
			err = le.err
		}
	}()
	if n.Kind != yaml.MappingNode {
		it.fail(n, "Unexpected element type. Each element should be a yaml associative array.")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k == nil || v == nil || k.Kind != yaml.ScalarNode {
			it.fail(k, "Item keys must be strings")
		}
		if _, dup := it.keys[k.Value]; dup {
			it.fail(k, "Key '%s' appears twice", k.Value)
		}
		it.keys[k.Value] = v
	}
	switch {
	case it.has("required_engine_version"):
		rs.readEngineVersion(it)
	case it.has("required_plugin_versions"):
		rs.readPluginVersions(it)
	case it.has("list"):
		rs.readList(it)
	case it.has("macro"):
		rs.readMacro(it)
	case it.has("rule"):
		rs.readRule(it)
	default:
		it.warn(nil, "Unknown top level item")
	}
	return nil
}

func (rs *ruleset) readEngineVersion(it *item) {
	it.what = "required_engine_version"
	v, n, _ := it.scalar("required_engine_version", true)
	if _, err := strconv.ParseUint(v, 10, 32); err != nil && !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
		it.fail(n, "Unable to parse engine version '%s' as a semver string. Expected \"x.y.z\" semver format.", v)
	}
	rs.engineVersion = v
}

func (rs *ruleset) readPluginVersions(it *item) {
	it.what = "required_plugin_versions"
	n := it.keys["required_plugin_versions"]
	if n.Kind != yaml.SequenceNode {
		it.fail(n, "Value of required_plugin_versions must be a sequence")
	}
	for _, p := range n.Content {
		p = resolve(p)
		if p == nil || p.Kind != yaml.MappingNode {
			it.fail(p, "Plugin version must be a mapping")
		}
		sub := &item{rs: rs, file: it.file, node: p, what: it.what, keys: map[string]*yaml.Node{}}
		for i := 0; i+1 < len(p.Content); i += 2 {
			sub.keys[p.Content[i].Value] = resolve(p.Content[i+1])
		}
		sub.scalar("name", true)
		sub.scalar("version", true)
		if alt, ok := sub.keys["alternatives"]; ok && (alt == nil || alt.Kind != yaml.SequenceNode) {
			sub.fail(alt, "Value of plugin version alternatives must be a sequence")
		}
	}
}

// overrides reads the override section: key -> "append" or "replace".
func (it *item) overrides(appendable, replaceable []string) (app, repl []string) {
	n, ok := it.keys["override"]
	if !ok {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		it.fail(n, "Value of 'override' must be a mapping of keys to append or replace")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k == nil || v == nil || v.Kind != yaml.ScalarNode {
			it.fail(n, "Invalid override entry")
		}
		switch v.Value {
		case "append":
			if !slices.Contains(appendable, k.Value) {
				it.fail(k, "Key '%s' cannot be appended to, use 'replace' instead", k.Value)
			}
			app = append(app, k.Value)
		case "replace":
			if !slices.Contains(replaceable, k.Value) {
				it.fail(k, "Key '%s' cannot be replaced", k.Value)
			}
			repl = append(repl, k.Value)
		default:
			it.fail(v, "Invalid override operation for key '%s': '%s'. Allowed values are: append, replace", k.Value, v.Value)
		}
	}
	return app, repl
}

const errOverrideAppend = "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. 'condition: append') under 'override' instead."

func (rs *ruleset) readList(it *item) {
	it.what = "list"
	name, n, _ := it.scalar("list", true)
	it.what = fmt.Sprintf("list %q", name)
	if !rgxBareStr.MatchString(name) {
		it.fail(n, "List name is invalid: it must match %s", rgxBareStr)
	}
	items, _ := it.sequence("items", true)
	appendFlag, _ := it.boolean("append")
	app, repl := it.overrides([]string{"items"}, []string{"items"})
	if appendFlag && (len(app) > 0 || len(repl) > 0) {
		it.fail(nil, errOverrideAppend)
	}
	if appendFlag {
		it.warn(nil, "'append' key is deprecated. Add an 'append' entry (e.g. 'items: append') under 'override' instead.")
	}
	if appendFlag || len(app) > 0 {
		prev, ok := rs.lists[name]
		if !ok {
			it.fail(nil, "List has 'append' key or an append override but no list by that name already exists")
		}
		prev.items = append(prev.items, items...)
		return
	}
	rs.lists[name] = &listDef{name: name, items: items, file: it.file, line: it.node.Line}
}

func (it *item) condSource(key string) *condSource {
	n := it.keys[key]
	line := n.Line
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		line++
	}
	return &condSource{item: it.what, file: it.file, line: it.node.Line, condLine: line,
		condLiteral: n.Style&yaml.LiteralStyle != 0, text: n.Value}
}

func (rs *ruleset) readMacro(it *item) {
	it.what = "macro"
	name, n, _ := it.scalar("macro", true)
	it.what = fmt.Sprintf("macro %q", name)
	if !rgxIdentifier.MatchString(name) {
		it.fail(n, "Macro name is invalid: it must match %s", rgxIdentifier)
	}
	cond, _, _ := it.scalar("condition", true)
	src := it.condSource("condition")
	appendFlag, _ := it.boolean("append")
	app, repl := it.overrides([]string{"condition"}, []string{"condition"})
	if appendFlag && (len(app) > 0 || len(repl) > 0) {
		it.fail(nil, errOverrideAppend)
	}
	if appendFlag {
		it.warn(nil, "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.")
	}
	if appendFlag || len(app) > 0 {
		prev, ok := rs.macros[name]
		if !ok {
			it.fail(nil, "Macro has 'append' key or an append override but no macro by that name already exists")
		}
		prev.cond += " " + cond
		prev.src.text = prev.cond
		return
	}
	rs.macros[name] = &macroDef{name: name, cond: cond, src: src}
}

var (
	ruleAppendable  = []string{"condition", "output", "desc", "tags", "exceptions"}
	ruleReplaceable = []string{"condition", "output", "desc", "priority", "tags", "exceptions", "enabled", "warn_evttypes", "skip-if-unknown-filter"}
	ruleKeys        = []string{"rule", "desc", "condition", "output", "priority", "source", "enabled", "tags", "exceptions",
		"append", "override", "warn_evttypes", "skip-if-unknown-filter"}
)

func (rs *ruleset) readRule(it *item) {
	it.what = "rule"
	name, _, _ := it.scalar("rule", true)
	it.what = fmt.Sprintf("rule %q", name)
	for k, v := range it.keys {
		if !slices.Contains(ruleKeys, k) {
			it.warn(v, "Unknown key '%s' ignored", k)
		}
	}
	appendFlag, _ := it.boolean("append")
	app, repl := it.overrides(ruleAppendable, ruleReplaceable)
	if appendFlag && (len(app) > 0 || len(repl) > 0) {
		it.fail(nil, errOverrideAppend)
	}
	if appendFlag {
		it.warn(nil, "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.")
	}
	prev := rs.rule(name)

	switch {
	case len(app) > 0 || len(repl) > 0:
		for _, k := range ruleReplaceable {
			if it.has(k) && !slices.Contains(app, k) && !slices.Contains(repl, k) {
				it.fail(it.keys[k], "Unexpected key '%s': no corresponding entry under 'override' is defined.", k)
			}
		}
		for _, k := range append(slices.Clone(app), repl...) {
			if !it.has(k) {
				kind := "append"
				if slices.Contains(repl, k) {
					kind = "replace"
				}
				it.fail(nil, "An %s override for '%s' was specified but '%s' is not defined", kind, k, k)
			}
		}
		if prev == nil {
			it.fail(nil, "Rule has an override but no rule by that name already exists")
		}
		for _, k := range app {
			rs.appendRuleKey(it, prev, k)
		}
		for _, k := range repl {
			rs.replaceRuleKey(it, prev, k)
		}
	case appendFlag:
		if prev == nil {
			it.fail(nil, "Rule has 'append' key but no rule by that name already exists")
		}
		if it.has("condition") {
			rs.appendRuleKey(it, prev, "condition")
		}
		if it.has("exceptions") {
			rs.appendRuleKey(it, prev, "exceptions")
		}
	case !it.has("condition") && !it.has("output") && !it.has("desc") && !it.has("priority"):
		enabled, ok := it.boolean("enabled")
		if !ok {
			it.fail(nil, "Item has no mapping for key 'condition'")
		}
		if prev == nil {
			it.fail(nil, "Rule has 'enabled' key but no rule by that name already exists")
		}
		it.warn(nil, "The 'enabled' key alone is deprecated. Add 'enabled: replace' under 'override' instead.")
		prev.enabled = enabled
	default:
		r := &ruleDef{name: name, enabled: true, source: "", file: it.file, line: it.node.Line}
		r.cond, _, _ = it.scalar("condition", true)
		r.src = it.condSource("condition")
		var on *yaml.Node
		r.output, on, _ = it.scalar("output", true)
		r.output = strings.TrimSpace(r.output)
		r.outputLine = on.Line
		r.desc, _, _ = it.scalar("desc", true)
		prio, pn, _ := it.scalar("priority", true)
		p, err := ParsePriority(prio)
		if err != nil {
			it.fail(pn, "Invalid priority %q", prio)
		}
		r.priority = p
		if s, _, ok := it.scalar("source", false); ok {
			r.source = s
		}
		if e, ok := it.boolean("enabled"); ok {
			r.enabled = e
		}
		if s, ok := it.boolean("skip-if-unknown-filter"); ok {
			r.skipUnknown = s
		}
		r.tags, _ = it.sequence("tags", false)
		r.exceptions = it.exceptions(false)
		if prev != nil {
			*prev = *r
			return
		}
		rs.ruleIndex[name] = len(rs.rules)
		rs.rules = append(rs.rules, r)
	}
}

func (rs *ruleset) rule(name string) *ruleDef {
	if i, ok := rs.ruleIndex[name]; ok {
		return rs.rules[i]
	}
	return nil
}

func (rs *ruleset) appendRuleKey(it *item, r *ruleDef, key string) {
	switch key {
	case "condition":
		c, _, _ := it.scalar("condition", true)
		r.cond += " " + c
		r.src.text = r.cond
	case "output":
		o, _, _ := it.scalar("output", true)
		r.output += " " + strings.TrimSpace(o)
	case "desc":
		d, _, _ := it.scalar("desc", true)
		r.desc += " " + d
	case "tags":
		tags, _ := it.sequence("tags", true)
		for _, t := range tags {
			if !slices.Contains(r.tags, t) {
				r.tags = append(r.tags, t)
			}
		}
	case "exceptions":
		for _, ex := range it.exceptions(true) {
			var prev *exceptionDef
			for _, p := range r.exceptions {
				if p.name == ex.name {
					prev = p
				}
			}
			if prev == nil {
				if ex.fields == nil {
					it.failAt(ex.line, "Rule exception new item %s: must have fields property with a list of fields", ex.name)
				}
				r.exceptions = append(r.exceptions, ex)
				continue
			}
			if ex.fields != nil && (!slices.Equal(ex.fields, prev.fields) || ex.fieldsList != prev.fieldsList) {
				it.failAt(ex.line, "Rule exception item %s: fields can not be changed when appending (they are %v)", ex.name, prev.fields)
			}
			if ex.compsSet && (!slices.Equal(ex.comps, prev.comps) || ex.compsList != prev.compsList) {
				it.failAt(ex.line, "Rule exception item %s: comps can not be changed when appending (they are %v)", ex.name, prev.comps)
			}
			prev.values = append(prev.values, ex.values...)
		}
	}
}

func (rs *ruleset) replaceRuleKey(it *item, r *ruleDef, key string) {
	switch key {
	case "condition":
		r.cond, _, _ = it.scalar("condition", true)
		r.src = it.condSource("condition")
	case "output":
		var on *yaml.Node
		r.output, on, _ = it.scalar("output", true)
		r.output = strings.TrimSpace(r.output)
		r.outputLine = on.Line
	case "desc":
		r.desc, _, _ = it.scalar("desc", true)
	case "priority":
		prio, pn, _ := it.scalar("priority", true)
		p, err := ParsePriority(prio)
		if err != nil {
			it.fail(pn, "Invalid priority %q", prio)
		}
		r.priority = p
	case "tags":
		r.tags, _ = it.sequence("tags", true)
	case "exceptions":
		r.exceptions = it.exceptions(false)
	case "enabled":
		r.enabled, _ = it.boolean("enabled")
	case "skip-if-unknown-filter":
		r.skipUnknown, _ = it.boolean("skip-if-unknown-filter")
	case "warn_evttypes":
		it.boolean("warn_evttypes")
	}
}

func (it *item) failAt(line int, format string, args ...any) {
	panic(loadError{&LoadError{File: it.file, Line: line, Item: it.what, Msg: fmt.Sprintf(format, args...)}})
}

// exceptions reads a rule's exceptions; in an append, fields are optional.
func (it *item) exceptions(appending bool) []*exceptionDef {
	n, ok := it.keys["exceptions"]
	if !ok || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		it.fail(n, "Rule exceptions must be a sequence")
	}
	var out []*exceptionDef
	for _, en := range n.Content {
		en = resolve(en)
		if en == nil || en.Kind != yaml.MappingNode {
			it.fail(en, "Rule exception must be a mapping")
		}
		ex := &exceptionDef{file: it.file, line: en.Line}
		keys := map[string]*yaml.Node{}
		for i := 0; i+1 < len(en.Content); i += 2 {
			keys[en.Content[i].Value] = resolve(en.Content[i+1])
		}
		nameN, ok := keys["name"]
		if !ok || nameN == nil || nameN.Kind != yaml.ScalarNode || nameN.Value == "" {
			it.fail(en, "Rule exception must have a non-empty 'name'")
		}
		ex.name = nameN.Value
		for _, p := range out {
			if p.name == ex.name {
				it.fail(en, "Exceptions names in the same object must be unique: %q", ex.name)
			}
		}
		if f, ok := keys["fields"]; ok {
			ex.fields, ex.fieldsList = it.excStrings(f, "fields", ex.name)
		} else if !appending {
			it.fail(en, "Rule exception item %s: must have fields property with a list of fields", ex.name)
		}
		if c, ok := keys["comps"]; ok {
			ex.comps, ex.compsList = it.excStrings(c, "comps", ex.name)
			ex.compsSet = true
		}
		if v, ok := keys["values"]; ok && !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
			if v.Kind != yaml.SequenceNode {
				it.fail(v, "Rule exception values must be a sequence")
			}
			for _, vn := range v.Content {
				ex.values = append(ex.values, it.excValue(vn, 0))
			}
		} else if appending {
			it.warn(en, "Overriding/appending exception with no values")
		}
		out = append(out, ex)
	}
	return out
}

func (it *item) excStrings(n *yaml.Node, key, name string) ([]string, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value == "" {
			it.fail(n, "Rule exception item %s: value of '%s' must be non-empty", name, key)
		}
		return []string{n.Value}, false
	case yaml.SequenceNode:
		out := []string{}
		for _, c := range n.Content {
			c = resolve(c)
			if c == nil || c.Kind != yaml.ScalarNode || c.Value == "" {
				it.fail(c, "Rule exception item %s: '%s' must be strings", name, key)
			}
			out = append(out, c.Value)
		}
		return out, true
	}
	it.fail(n, "Rule exception item %s: '%s' must be a string or a list of strings", name, key)
	return nil, false
}

func (it *item) excValue(n *yaml.Node, depth int) excValue {
	n = resolve(n)
	if n == nil || depth > 3 {
		it.fail(n, "Rule exception values are nested too deeply")
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return excValue{s: n.Value, line: n.Line}
	case yaml.SequenceNode:
		v := excValue{isList: true, line: n.Line}
		for _, c := range n.Content {
			v.list = append(v.list, it.excValue(c, depth+1))
		}
		return v
	}
	it.fail(n, "Rule exception values must be strings or lists")
	return excValue{}
}
