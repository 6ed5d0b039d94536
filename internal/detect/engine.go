package detect

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
	"github.com/bulwark-k8s/bulwark/internal/controls"
)

// SourceK8sAudit is the event source of Kubernetes audit rules, the only
// source this engine evaluates.
const SourceK8sAudit = "k8s_audit"

// DefaultRulesFile is the name of Bulwark's embedded rules file.
const DefaultRulesFile = "bulwark_k8s_audit_rules.yaml"

//go:embed rules/bulwark_k8s_audit_rules.yaml
var defaultRules []byte

// DefaultRules returns Bulwark's own rules file.
func DefaultRules() Source {
	return Source{Name: DefaultRulesFile, Data: append([]byte(nil), defaultRules...)}
}

// Source is the content of one rules file.
type Source struct {
	// Name is used in errors, usually the file path.
	Name string
	Data []byte
}

// Stats describes what a rule set loaded.
type Stats struct {
	Files  int `json:"files"`
	Lists  int `json:"lists"`
	Macros int `json:"macros"`
	// Rules counts every rule, whatever its source.
	Rules int `json:"rules"`
	// Compiled counts k8s_audit rules, enabled or not.
	Compiled int `json:"compiled"`
	// Enabled counts the rules Evaluate runs.
	Enabled int `json:"enabled"`
	// OtherSources counts rules ignored because they are for another
	// event source (syscall, aws_cloudtrail, ...), by source.
	OtherSources map[string]int `json:"otherSources,omitempty"`
	// SkippedUnknownFilter counts rules with skip-if-unknown-filter that
	// use a field this engine does not know.
	SkippedUnknownFilter int `json:"skippedUnknownFilter,omitempty"`
}

// Rule describes a loaded k8s_audit rule.
type Rule struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Condition   string   `json:"condition"`
	Output      string   `json:"output"`
	Priority    Priority `json:"priority"`
	Tags        []string `json:"tags,omitempty"`
	Enabled     bool     `json:"enabled"`
	File        string   `json:"file"`
	Line        int      `json:"line"`
}

// Alert is one rule matching one event.
type Alert struct {
	Rule     string    `json:"rule"`
	Priority Priority  `json:"priority"`
	Time     time.Time `json:"time"`
	// Output is the rule's output with its fields substituted.
	Output string `json:"output"`
	// Fields holds the fields the output uses, as rendered ("<NA>" when
	// missing, "(a,b)" for lists), keyed as written ("ka.uri.param[command]").
	Fields  map[string]string `json:"output_fields"`
	AuditID string            `json:"auditID"`
	// Tags are the rule's tags; the slice is shared and must not be
	// modified.
	Tags   []string `json:"tags,omitempty"`
	Source string   `json:"source"`
	// Check is the catalog check ID among the tags (BW-DET-001), if any.
	Check string `json:"check,omitempty"`
	// Requirements are the requirement IDs among the tags.
	Requirements []string `json:"requirements,omitempty"`
}

// Severity maps the alert's priority onto the catalog's severities.
func (a Alert) Severity() controls.Severity { return a.Priority.Severity() }

type compiledRule struct {
	Rule
	cond         evalFn
	output       *outputFormat
	check        string
	requirements []string
}

// Engine evaluates compiled k8s_audit rules on audit events. It is
// immutable once built and safe for concurrent use.
type Engine struct {
	rules    []*compiledRule
	active   []*compiledRule
	nslots   int
	pool     sync.Pool
	stats    Stats
	warnings []Warning
}

// Options adjust Bulwark's rules. Each becomes an append to a list of the
// default rules file before compilation, so bulwark.yaml can feed them.
type Options struct {
	// AllowedSourceCIDRs are the address ranges API clients may come from
	// (REQ-05b). Setting them enables BW-DET-012.
	AllowedSourceCIDRs []string `json:"allowedSourceCIDRs,omitempty"`
	// SecretReaders are users that may read secrets without an alert
	// (BW-DET-011), beyond the control plane's own.
	SecretReaders []string `json:"secretReaders,omitempty"`
	// ExemptUsers never trigger Bulwark's rules, except the one that
	// guards Bulwark's own webhooks (BW-DET-016).
	ExemptUsers []string `json:"exemptUsers,omitempty"`
	// DefaultSource is the source of rules that name none. Falco's
	// default, "syscall", is used when empty.
	DefaultSource string `json:"defaultSource,omitempty"`
}

// Lists the options append to, and the check they enable.
const (
	listAllowedCIDRs  = "bulwark_allowed_source_cidrs"
	listSecretReaders = "bulwark_secret_readers"
	listExemptUsers   = "bulwark_exempt_users"
	checkSourceRanges = "BW-DET-012"
)

func (o Options) apply(rs *ruleset) error {
	var errs []error
	appendTo := func(list, option string, items []string) {
		if len(items) == 0 {
			return
		}
		l, ok := rs.lists[list]
		if !ok {
			errs = append(errs, fmt.Errorf("option %s needs the list %s, which no rules file defines", option, list))
			return
		}
		l.items = append(l.items, items...)
	}
	for _, c := range o.AllowedSourceCIDRs {
		if _, err := parseNet(c); err != nil {
			errs = append(errs, fmt.Errorf("option allowedSourceCIDRs: %w", err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	appendTo(listAllowedCIDRs, "allowedSourceCIDRs", o.AllowedSourceCIDRs)
	appendTo(listSecretReaders, "secretReaders", o.SecretReaders)
	appendTo(listExemptUsers, "exemptUsers", o.ExemptUsers)
	if len(o.AllowedSourceCIDRs) > 0 {
		for _, r := range rs.rules {
			if checkID(r.tags) == checkSourceRanges {
				r.enabled = true
			}
		}
	}
	return errors.Join(errs...)
}

// LoadRules reads and compiles rules files in order, as Falco does with
// several -r options: later files may append to or override earlier ones.
func LoadRules(files ...string) (*Engine, error) {
	return load(Options{}, false, files)
}

// LoadDefaultRules compiles Bulwark's embedded rules, then the given
// files (which may append to or override them), then opts.
func LoadDefaultRules(opts Options, files ...string) (*Engine, error) {
	return load(opts, true, files)
}

func load(opts Options, defaults bool, files []string) (*Engine, error) {
	var srcs []Source
	if defaults {
		srcs = append(srcs, DefaultRules())
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("rules file %s: %w", f, err)
		}
		srcs = append(srcs, Source{Name: f, Data: data})
	}
	return Compile(opts, srcs...)
}

// Compile loads rules from sources in order and compiles the k8s_audit
// rules. Errors are *LoadError values (joined), each naming a file, line
// and item.
func Compile(opts Options, sources ...Source) (*Engine, error) {
	rs := newRuleset()
	for _, s := range sources {
		rs.parseRules(s.Name, s.Data)
	}
	if len(rs.errs) > 0 {
		return nil, errors.Join(rs.errs...)
	}
	if err := opts.apply(rs); err != nil {
		return nil, err
	}
	defaultSource := opts.DefaultSource
	if defaultSource == "" {
		defaultSource = "syscall"
	}

	e := &Engine{stats: Stats{Files: len(sources), Lists: len(rs.lists), Macros: len(rs.macros), Rules: len(rs.rules)}}
	var errs []error
	// Every macro must parse, used or not, as in Falco.
	for _, name := range sortedKeys(rs.macros) {
		m := rs.macros[name]
		ast, err := parseCondition(m.cond)
		if err != nil {
			m.parseErr = conditionError(m.src, err)
			errs = append(errs, m.parseErr)
			continue
		}
		m.ast = ast
	}

	cp := newCompiler(rs.lists, rs.macros)
	for _, r := range rs.rules {
		src := r.source
		if src == "" {
			src = defaultSource
		}
		if src != SourceK8sAudit {
			if e.stats.OtherSources == nil {
				e.stats.OtherSources = map[string]int{}
			}
			e.stats.OtherSources[src]++
			continue
		}
		cr, err := compileRule(cp, r)
		if err != nil {
			var ue unknownFieldError
			if r.skipUnknown && errors.As(err, &ue) {
				e.stats.SkippedUnknownFilter++
				e.warnings = append(e.warnings, Warning{r.file, r.line, fmt.Sprintf("rule %q", r.name), "skipped (skip-if-unknown-filter): " + err.Error()})
				continue
			}
			errs = append(errs, err)
			continue
		}
		e.rules = append(e.rules, cr)
		if cr.Enabled {
			e.active = append(e.active, cr)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(dedupe(errs)...)
	}
	if n := len(rs.rules) - len(e.rules) - e.stats.SkippedUnknownFilter; n > 0 {
		e.warnings = append(e.warnings, Warning{Msg: fmt.Sprintf("%d rules for other event sources ignored", n)})
	}
	e.warnings = append(rs.warnings, e.warnings...)
	e.stats.Compiled = len(e.rules)
	e.stats.Enabled = len(e.active)
	e.nslots = len(cp.refs)
	e.pool.New = func() any { return newEvalCtx(e.nslots) }
	return e, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// dedupe drops repeated errors (a broken macro used by several rules).
func dedupe(errs []error) []error {
	seen := map[string]bool{}
	out := errs[:0]
	for _, err := range errs {
		if s := err.Error(); !seen[s] {
			seen[s] = true
			out = append(out, err)
		}
	}
	return out
}

// unknownFieldError marks an error caused by a field the engine does not
// know, for skip-if-unknown-filter.
type unknownFieldError struct{ error }

func (u unknownFieldError) Unwrap() error { return u.error }

func compileRule(cp *compiler, r *ruleDef) (*compiledRule, error) {
	item := fmt.Sprintf("rule %q", r.name)
	ast, err := parseCondition(r.cond)
	if err != nil {
		return nil, conditionError(r.src, err)
	}
	cond, err := cp.compile(ast, r.src)
	if err != nil {
		return nil, wrapUnknown(conditionError(r.src, err))
	}
	for _, ex := range r.exceptions {
		exSrc := &condSource{item: item, file: r.file, line: ex.line, condLine: ex.line}
		x, err := exceptionExpr(ex)
		if err != nil {
			return nil, &LoadError{File: r.file, Line: ex.line, Item: item, Msg: fmt.Sprintf("Rule exception item %s: %v", ex.name, err)}
		}
		if x == nil {
			continue
		}
		f, err := cp.compile(x, exSrc)
		if err != nil {
			var ce *compileError
			msg := err.Error()
			if errors.As(err, &ce) {
				msg = ce.msg
			}
			return nil, wrapUnknown(&LoadError{File: r.file, Line: ex.line, Item: item, Msg: fmt.Sprintf("Rule exception item %s: %s", ex.name, msg)})
		}
		base := cond
		cond = func(c *evalCtx) bool { return base(c) && !f(c) }
	}
	out, err := cp.compileOutput(r.output)
	if err != nil {
		return nil, wrapUnknown(&LoadError{File: r.file, Line: r.outputLine, Item: item, Msg: err.Error()})
	}
	cr := &compiledRule{
		Rule: Rule{Name: r.name, Description: r.desc, Condition: r.cond, Output: r.output, Priority: r.priority,
			Tags: r.tags, Enabled: r.enabled, File: r.file, Line: r.line},
		cond: cond, output: out, check: checkID(r.tags), requirements: requirementIDs(r.tags),
	}
	return cr, nil
}

func wrapUnknown(err error) error {
	if strings.Contains(err.Error(), "unknown field") {
		return unknownFieldError{err}
	}
	return err
}

// conditionError locates an error in a condition: the file, the line of
// the item the condition (or the macro it uses) comes from, and the text
// where it happened.
func conditionError(fallback *condSource, err error) error {
	var le *LoadError
	if errors.As(err, &le) {
		return err
	}
	src, offset, msg := fallback, -1, err.Error()
	var ce *compileError
	var se *SyntaxError
	switch {
	case errors.As(err, &ce):
		src, offset, msg = ce.where, ce.offset, ce.msg
	case errors.As(err, &se):
		offset, msg = se.Offset, se.Msg
	}
	line := src.condLine
	if src.condLiteral && offset > 0 && offset <= len(src.text) {
		line += strings.Count(src.text[:offset], "\n")
	}
	if offset >= 0 && offset <= len(src.text) {
		msg += " at " + snippet(src.text, offset)
	}
	return &LoadError{File: src.file, Line: line, Item: src.item, Msg: "condition: " + msg}
}

// snippet quotes the condition text around offset.
func snippet(text string, offset int) string {
	end := min(offset+32, len(text))
	s := strings.Join(strings.Fields(text[offset:end]), " ")
	if end < len(text) {
		s += "..."
	}
	if s == "" {
		return "the end of the condition"
	}
	return fmt.Sprintf("offset %d: %q", offset, s)
}

var (
	rgxCheckID       = regexp.MustCompile(`^BW-[A-Z]+-\d+$`)
	requirementRegex = regexp.MustCompile(`^(REQ-\d+[a-z]?|PRAC-[A-Z]+)$`)
)

func checkID(tags []string) string {
	for _, t := range tags {
		if rgxCheckID.MatchString(t) {
			return t
		}
	}
	return ""
}

func requirementIDs(tags []string) []string {
	var out []string
	for _, t := range tags {
		if _, ok := controls.LookupRequirement(t); ok && requirementRegex.MatchString(t) {
			out = append(out, t)
		}
	}
	return out
}

// Evaluate runs the enabled rules, in load order, on one event and
// returns an alert per matching rule (nil when none match).
func (e *Engine) Evaluate(ev *audit.Event) []Alert {
	if ev == nil || len(e.active) == 0 {
		return nil
	}
	c := e.pool.Get().(*evalCtx)
	c.reset(ev)
	var alerts []Alert
	for _, r := range e.active {
		if r.cond(c) {
			alerts = append(alerts, r.alert(c))
		}
	}
	c.ev = nil
	e.pool.Put(c)
	return alerts
}

func (r *compiledRule) alert(c *evalCtx) Alert {
	out, fields := r.output.render(c)
	return Alert{
		Rule: r.Name, Priority: r.Priority, Time: c.eventTime(), Output: out, Fields: fields,
		AuditID: c.ev.AuditID, Tags: r.Tags, Source: SourceK8sAudit, Check: r.check, Requirements: r.requirements,
	}
}

// Rules describes the compiled k8s_audit rules in load order, enabled or
// not.
func (e *Engine) Rules() []Rule {
	out := make([]Rule, len(e.rules))
	for i, r := range e.rules {
		out[i] = r.Rule
	}
	return out
}

// Stats returns what was loaded.
func (e *Engine) Stats() Stats { return e.stats }

// Warnings returns what loaded but deserves attention: deprecated forms,
// unknown keys and items, ignored rules.
func (e *Engine) Warnings() []Warning { return e.warnings }
