package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	psa "k8s.io/pod-security-admission/policy"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// builtins returns Bulwark's Rego builtins, available to every template:
//
//	bulwark.pod_security(obj, level, checks) -> [{"check", "reason", "detail"}]
//	    runs the Kubernetes Pod Security Standards checks (the
//	    pod-security-admission library) of level "baseline" or
//	    "restricted" on the pod spec obj carries, reporting only the
//	    named check IDs (all of the level when checks is empty).
//	bulwark.pod_security_review(obj, {"level", "checks", "exemptImages"})
//	    -> [{"check", "reason", "detail", "msg"}]
//	    the same, with exempt images left out, in one call.
//	bulwark.secret_findings(name, value, file, extra_names) -> {evidence, ...}
//	    why a named value looks like a secret literal (see secrets.go).
//	bulwark.registry_allowed(image, prefixes) -> bool
//	    whether the image, as written or resolved, starts with an
//	    allowed prefix (see registry.go).
//	bulwark.parse_image(ref) -> {"registry", "repository", "name", "tag", "digest"}
//	    parses an image reference as the container runtime does
//	    ("centos" is docker.io/library/centos:latest); undefined when
//	    the reference is invalid.
func builtins() []func(*rego.Rego) {
	images := &imageCache{entries: map[string]*ast.Term{}}
	return []func(*rego.Rego){
		rego.Function3(&rego.Function{
			Name: "bulwark.pod_security",
			Decl: types.NewFunction(types.Args(types.A, types.S, types.NewArray(nil, types.S)), types.NewArray(nil, types.A)),
			// Not memoized by OPA: its key would serialise the whole pod.
			// The decoded pod is cached per review instead.
		}, podSecurityBuiltin),
		rego.Function2(&rego.Function{
			Name: "bulwark.pod_security_review",
			Decl: types.NewFunction(types.Args(types.A, types.A), types.NewArray(nil, types.A)),
		}, podSecurityReviewBuiltin),
		secretFindingsFunction(),
		registryAllowedFunction(images),
		rego.Function1(&rego.Function{
			Name: "bulwark.parse_image",
			Decl: types.NewFunction(types.Args(types.S), types.NewObject(nil, types.NewDynamicProperty(types.S, types.S))),
			// Not memoized by OPA: images caches every result, and OPA's
			// memo key is the argument printed anew on every call.
		}, images.builtin),
	}
}

// pssChecks holds one evaluator per Pod Security Standards check, so each
// result can be attributed to its check ID.
type pssCheck struct {
	id    string
	level psaapi.Level
	eval  psa.Evaluator
}

var pssChecks = sync.OnceValues(func() ([]pssCheck, error) {
	var out []pssCheck
	for _, c := range psa.DefaultChecks() {
		ev, err := psa.NewEvaluator([]psa.Check{c}, nil)
		if err != nil {
			return nil, fmt.Errorf("pod security check %s: %w", c.ID, err)
		}
		out = append(out, pssCheck{id: string(c.ID), level: c.Level, eval: ev})
	}
	return out, nil
})

// PodSecurityCheckIDs lists the Pod Security Standards check IDs by level.
func PodSecurityCheckIDs() (map[string][]string, error) {
	cs, err := pssChecks()
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, c := range cs {
		out[string(c.level)] = append(out[string(c.level)], c.id)
	}
	return out, nil
}

type typedPod struct {
	meta *metav1.ObjectMeta
	spec *corev1.PodSpec
	err  error
}

type reviewCacheKey struct{}

// reviewCache keeps per-review work (decoding a pod spec into typed form)
// shared by the constraints that need it.
type reviewCache struct {
	mu   sync.Mutex
	pods map[ast.Value]*typedPod
	// objects maps the Rego form of the reviewed object back to its Go
	// form, which decodes into typed structs far faster.
	objects map[ast.Value]map[string]any
}

// withReviewCache starts a per-review cache; object is the review's object
// in Go and Rego form (either may be nil).
func withReviewCache(ctx context.Context, object map[string]any, value ast.Value) context.Context {
	rc := &reviewCache{pods: map[ast.Value]*typedPod{}}
	if _, isObj := value.(ast.Object); isObj && object != nil {
		rc.objects = map[ast.Value]map[string]any{value: object}
	}
	return context.WithValue(ctx, reviewCacheKey{}, rc)
}

func typedPodOf(ctx context.Context, v ast.Value) *typedPod {
	rc, _ := ctx.Value(reviewCacheKey{}).(*reviewCache)
	_, isObj := v.(ast.Object)
	if rc != nil && isObj {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if p, ok := rc.pods[v]; ok {
			return p
		}
	}
	var p *typedPod
	if m, ok := rc.goObject(v); ok {
		p = decodePod(m)
	} else {
		raw, err := ast.JSON(v)
		if err != nil {
			return &typedPod{err: err}
		}
		m, ok := raw.(map[string]any)
		if !ok {
			return &typedPod{err: fmt.Errorf("expected an object, got %T", raw)}
		}
		p = decodePod(m)
	}
	if rc != nil && isObj {
		rc.pods[v] = p
	}
	return p
}

func (rc *reviewCache) goObject(v ast.Value) (map[string]any, bool) {
	if rc == nil || rc.objects == nil {
		return nil, false
	}
	if _, isObj := v.(ast.Object); !isObj {
		return nil, false
	}
	m, ok := rc.objects[v]
	return m, ok
}

func decodePod(m map[string]any) *typedPod {
	tpl, ok := k8s.PodTemplateOf(&k8s.Object{Content: m})
	if !ok {
		return &typedPod{}
	}
	p := &typedPod{meta: &metav1.ObjectMeta{}, spec: &corev1.PodSpec{}}
	if err := roundTrip(tpl.Metadata, p.meta); err != nil {
		return &typedPod{err: fmt.Errorf("metadata: %w", err)}
	}
	if err := roundTrip(tpl.Spec, p.spec); err != nil {
		return &typedPod{err: fmt.Errorf("pod spec: %w", err)}
	}
	return p
}

// roundTrip decodes in, a decoded JSON document, into out as
// json.Unmarshal(json.Marshal(in)) does.
func roundTrip(in any, out any) error {
	if in == nil {
		return nil
	}
	buf := jsonBuffers.Get().(*[]byte)
	defer jsonBuffers.Put(buf)
	js, err := appendJSON((*buf)[:0], in)
	if err != nil {
		return err
	}
	*buf = js
	return json.Unmarshal(js, out)
}

var jsonBuffers = sync.Pool{New: func() any { return new([]byte) }}

func podSecurityBuiltin(bctx rego.BuiltinContext, objT, levelT, checksT *ast.Term) (*ast.Term, error) {
	lv, err := pssLevel(levelT.Value)
	if err != nil {
		return nil, fmt.Errorf("bulwark.pod_security: %w", err)
	}
	p := typedPodOf(bctx.Context, objT.Value)
	if p.err != nil {
		return nil, fmt.Errorf("bulwark.pod_security: %w", p.err)
	}
	if p.spec == nil {
		return ast.ArrayTerm(), nil
	}
	return evaluatePodSecurity(p.meta, p.spec, lv, stringSet(checksT.Value))
}

// podSecurityReviewBuiltin is bulwark.pod_security_review(obj, params):
// the Pod Security Standards checks of params.level limited to
// params.checks, with the containers whose image params.exemptImages
// names ("prefix*" or exact) left out, and nothing reported when every
// container is exempt. Each result also carries the message.
func podSecurityReviewBuiltin(bctx rego.BuiltinContext, objT, paramsT *ast.Term) (*ast.Term, error) {
	params, ok := paramsT.Value.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("bulwark.pod_security_review: parameters must be an object")
	}
	var levelV ast.Value = ast.String("")
	if t := params.Get(ast.StringTerm("level")); t != nil {
		levelV = t.Value
	}
	lv, err := pssLevel(levelV)
	if err != nil {
		return nil, fmt.Errorf("bulwark.pod_security_review: %w", err)
	}
	var want, exempt map[string]bool
	if t := params.Get(ast.StringTerm("checks")); t != nil {
		want = stringSet(t.Value)
	}
	var exemptList []string
	if t := params.Get(ast.StringTerm("exemptImages")); t != nil {
		exempt = stringSet(t.Value)
		for e := range exempt {
			exemptList = append(exemptList, e)
		}
	}
	p := typedPodOf(bctx.Context, objT.Value)
	if p.err != nil {
		return nil, fmt.Errorf("bulwark.pod_security_review: %w", p.err)
	}
	if p.spec == nil {
		return ast.ArrayTerm(), nil
	}
	spec := p.spec
	if len(exemptList) > 0 {
		kept, all := withoutExempt(p.spec, exemptList)
		if all {
			return ast.ArrayTerm(), nil
		}
		spec = kept
	}
	res, err := evaluatePodSecurity(p.meta, spec, lv, want)
	if err != nil {
		return nil, err
	}
	arr := res.Value.(*ast.Array)
	out := make([]*ast.Term, 0, arr.Len())
	arr.Foreach(func(t *ast.Term) {
		o := t.Value.(ast.Object)
		reason := string(o.Get(ast.StringTerm("reason")).Value.(ast.String))
		detail := string(o.Get(ast.StringTerm("detail")).Value.(ast.String))
		msg := reason
		if detail != "" {
			msg += " (" + detail + ")"
		}
		o.Insert(ast.StringTerm("msg"), ast.StringTerm(msg))
		out = append(out, t)
	})
	return ast.ArrayTerm(out...), nil
}

func pssLevel(v ast.Value) (psaapi.Level, error) {
	level, ok := v.(ast.String)
	if !ok {
		return "", fmt.Errorf("level must be a string")
	}
	lv := psaapi.Level(level)
	if lv != psaapi.LevelBaseline && lv != psaapi.LevelRestricted {
		return "", fmt.Errorf("level %q is not baseline or restricted", string(level))
	}
	return lv, nil
}

func stringSet(v ast.Value) map[string]bool {
	out := map[string]bool{}
	if arr, ok := v.(*ast.Array); ok {
		arr.Foreach(func(t *ast.Term) {
			if s, ok := t.Value.(ast.String); ok {
				out[string(s)] = true
			}
		})
	}
	return out
}

// withoutExempt returns a copy of spec without the containers whose image
// an exemption names, and whether every container was exempt.
func withoutExempt(spec *corev1.PodSpec, exempt []string) (*corev1.PodSpec, bool) {
	isExempt := func(image string) bool {
		for _, e := range exempt {
			if prefix, glob := strings.CutSuffix(e, "*"); glob && strings.HasPrefix(image, prefix) || !glob && image == e {
				return true
			}
		}
		return false
	}
	out := *spec
	total, kept := 0, 0
	out.InitContainers, out.Containers, out.EphemeralContainers = nil, nil, nil
	for _, c := range spec.InitContainers {
		total++
		if !isExempt(c.Image) {
			out.InitContainers = append(out.InitContainers, c)
			kept++
		}
	}
	for _, c := range spec.Containers {
		total++
		if !isExempt(c.Image) {
			out.Containers = append(out.Containers, c)
			kept++
		}
	}
	for _, c := range spec.EphemeralContainers {
		total++
		if !isExempt(c.Image) {
			out.EphemeralContainers = append(out.EphemeralContainers, c)
			kept++
		}
	}
	return &out, total > 0 && kept == 0
}

// evaluatePodSecurity runs the wanted checks (all when want is empty) of
// level lv and returns [{"check", "reason", "detail"}].
func evaluatePodSecurity(meta *metav1.ObjectMeta, spec *corev1.PodSpec, lv psaapi.Level, want map[string]bool) (*ast.Term, error) {
	cs, err := pssChecks()
	if err != nil {
		return nil, err
	}
	var out []*ast.Term
	latest := psaapi.LatestVersion()
	for _, c := range cs {
		if len(want) > 0 && !want[c.id] {
			continue
		}
		if lv == psaapi.LevelBaseline && c.level != psaapi.LevelBaseline {
			continue
		}
		for _, r := range c.eval.EvaluatePod(psaapi.LevelVersion{Level: c.level, Version: latest}, meta, spec) {
			if r.Allowed {
				continue
			}
			out = append(out, ast.ObjectTerm(
				ast.Item(ast.StringTerm("check"), ast.StringTerm(c.id)),
				ast.Item(ast.StringTerm("reason"), ast.StringTerm(r.ForbiddenReason)),
				ast.Item(ast.StringTerm("detail"), ast.StringTerm(r.ForbiddenDetail)),
			))
		}
	}
	return ast.ArrayTerm(out...), nil
}

// imageCache remembers parsed image references across reviews: the same
// few images appear in many objects, and parsing validates with regular
// expressions. It is bounded and starts afresh when full.
type imageCache struct {
	mu      sync.RWMutex
	entries map[string]*ast.Term
}

const imageCacheSize = 4096

func (c *imageCache) get(ref string) (*ast.Term, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.entries[ref]
	return t, ok
}

func (c *imageCache) put(ref string, t *ast.Term) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= imageCacheSize {
		c.entries = map[string]*ast.Term{}
	}
	c.entries[ref] = t
}

func (c *imageCache) builtin(_ rego.BuiltinContext, refT *ast.Term) (*ast.Term, error) {
	s, ok := refT.Value.(ast.String)
	if !ok {
		return nil, nil
	}
	return c.term(string(s)), nil
}

// term is bulwark.parse_image(ref), nil when undefined.
func (c *imageCache) term(ref string) *ast.Term {
	if t, ok := c.get(ref); ok {
		return t
	}
	t := parseImage(ref)
	c.put(ref, t)
	return t
}

// parse is bulwark.parse_image(ref)'s value, nil when undefined.
func (c *imageCache) parse(ref string) ast.Value {
	if t := c.term(ref); t != nil {
		return t.Value
	}
	return nil
}

// parseImage returns the parsed reference, or nil (undefined) when invalid.
func parseImage(s string) *ast.Term {
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil // undefined: an invalid reference
	}
	repo := ref.Context()
	registry := repo.RegistryStr()
	if registry == name.DefaultRegistry {
		registry = "docker.io" // as written in image references
	}
	tag, digest := "", ""
	switch r := ref.(type) {
	case name.Tag:
		// ParseReference defaults the tag to "latest"; report only an
		// explicit one.
		if hasExplicitTag(s) {
			tag = r.TagStr()
		}
	case name.Digest:
		digest = r.DigestStr()
		if t := explicitTagBeforeDigest(s); t != "" {
			tag = t
		}
	}
	return ast.ObjectTerm(
		ast.Item(ast.StringTerm("registry"), ast.StringTerm(registry)),
		ast.Item(ast.StringTerm("repository"), ast.StringTerm(repo.RepositoryStr())),
		ast.Item(ast.StringTerm("name"), ast.StringTerm(registry+"/"+repo.RepositoryStr())),
		ast.Item(ast.StringTerm("tag"), ast.StringTerm(tag)),
		ast.Item(ast.StringTerm("digest"), ast.StringTerm(digest)),
	)
}

// hasExplicitTag reports whether an image reference (without digest) names
// a tag: a ':' after the last '/'.
func hasExplicitTag(ref string) bool {
	last := 0
	for i := len(ref) - 1; i >= 0; i-- {
		if ref[i] == '/' {
			last = i
			break
		}
	}
	for i := last; i < len(ref); i++ {
		if ref[i] == ':' {
			return true
		}
	}
	return false
}

func explicitTagBeforeDigest(ref string) string {
	for i := 0; i < len(ref); i++ {
		if ref[i] == '@' {
			base := ref[:i]
			if !hasExplicitTag(base) {
				return ""
			}
			for j := len(base) - 1; j >= 0; j-- {
				if base[j] == ':' {
					return base[j+1:]
				}
			}
		}
	}
	return ""
}
