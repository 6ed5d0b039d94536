package policy

import (
	"strings"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/types"
)

// registryAllowedFunction is bulwark.registry_allowed(image, prefixes):
// whether an image reference starts with one of the allowed prefixes,
// either as written or as the container runtime resolves it
// (registry/repository from bulwark.parse_image: "centos" is
// docker.io/library/centos). A prefix "*.host.example/path/" allows any
// registry host ending in ".host.example" whose repository path starts
// with "/path/". Anything that is not a string matches nothing.
//
// It is what BW-K8S-008's Rego did in a dozen rules and functions per
// container and prefix (registry_test.go compares the two); Rego's
// strings are sequences of code points, so a reference that is not valid
// UTF-8 is judged as Rego's substring would see it.
func registryAllowedFunction(images *imageCache) func(*rego.Rego) {
	return rego.Function2(&rego.Function{
		Name: "bulwark.registry_allowed",
		Decl: types.NewFunction(types.Args(types.A, types.A), types.B),
	}, func(_ rego.BuiltinContext, imageT, prefixesT *ast.Term) (*ast.Term, error) {
		image, ok := imageT.Value.(ast.String)
		if !ok {
			return ast.InternedTerm(false), nil
		}
		candidates := []string{string(image)}
		if ref, ok := images.parse(string(image)).(ast.Object); ok {
			registry, _ := ref.Get(ast.InternedTerm("registry")).Value.(ast.String)
			repository, _ := ref.Get(ast.InternedTerm("repository")).Value.(ast.String)
			candidates = append(candidates, string(registry)+"/"+string(repository))
		}
		allowed := false
		forEach(prefixesT.Value, func(t *ast.Term) bool {
			prefix, ok := t.Value.(ast.String)
			allowed = ok && prefixMatches(candidates, string(prefix))
			return !allowed
		})
		return ast.InternedTerm(allowed), nil
	})
}

// forEach calls f with the elements of an array or set (the values of an
// object) until f returns false.
func forEach(v ast.Value, f func(*ast.Term) bool) {
	switch v := v.(type) {
	case *ast.Array:
		for i := range v.Len() {
			if !f(v.Elem(i)) {
				return
			}
		}
	case ast.Set:
		v.Until(func(t *ast.Term) bool { return !f(t) })
	case ast.Object:
		v.Until(func(_, t *ast.Term) bool { return !f(t) })
	}
}

// prefixMatches is whether one of the candidates matches prefix.
func prefixMatches(candidates []string, prefix string) bool {
	rest, wildcard := strings.CutPrefix(prefix, "*.")
	if !wildcard {
		for _, c := range candidates {
			if strings.HasPrefix(c, prefix) {
				return true
			}
		}
		return false
	}
	// "*.azurecr.io/team/": the host must end in ".azurecr.io" and the
	// path start with "/team/".
	hostSuffix, pathPrefix := splitHost(codePoints("." + rest))
	for _, c := range candidates {
		host, path := splitHost(codePoints(c))
		if host != "" && path != "" && strings.HasSuffix(host, hostSuffix) && strings.HasPrefix(path, pathPrefix) {
			return true
		}
	}
	return false
}

// splitHost("a.b/c/d") is "a.b", "/c/d"; without a slash the path is "".
func splitHost(s string) (host, path string) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// codePoints is s as Rego's substring returns its pieces: each byte that
// is not part of valid UTF-8 becomes U+FFFD.
func codePoints(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return string([]rune(s))
}
