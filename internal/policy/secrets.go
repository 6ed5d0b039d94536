package policy

import (
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/types"
)

// secretFindingsFunction is bulwark.secret_findings(name, value, file,
// extra_names): what makes a named value look like a secret literal, as a
// set of evidence strings (never the value itself). name is an environment
// variable, a ConfigMap key or an annotation ("" to judge the value's shape
// only); file says the value is a file's content (a ConfigMap key), where
// assignments such as "password=..." count; extra_names are more name
// markers (like "INSTRUMENTATIONKEY").
func secretFindingsFunction() func(*rego.Rego) {
	return rego.Function4(&rego.Function{
		Name:    "bulwark.secret_findings",
		Decl:    types.NewFunction(types.Args(types.S, types.S, types.B, types.NewArray(nil, types.A)), types.NewSet(types.S)),
		Memoize: true,
	}, func(_ rego.BuiltinContext, nameT, valueT, fileT, extraT *ast.Term) (*ast.Term, error) {
		name, ok1 := nameT.Value.(ast.String)
		value, ok2 := valueT.Value.(ast.String)
		file, ok3 := fileT.Value.(ast.Boolean)
		if !ok1 || !ok2 || !ok3 {
			return ast.SetTerm(), nil
		}
		var extra []string
		if arr, ok := extraT.Value.(*ast.Array); ok {
			arr.Foreach(func(t *ast.Term) {
				if s, ok := t.Value.(ast.String); ok {
					extra = append(extra, string(s))
				}
			})
		}
		var terms []*ast.Term
		for _, f := range secretFindings(string(name), string(value), bool(file), extra) {
			terms = append(terms, ast.StringTerm(f))
		}
		return ast.SetTerm(terms...), nil
	})
}

var (
	secretNameMarkers = []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "APIKEY", "ACCESSKEY", "PRIVATEKEY", "CREDENTIAL"}
	// Names that say where a secret is, or describe it, rather than hold it.
	benignNameSuffixes = []string{"FILE", "PATH", "DIR", "DIRECTORY", "NAME", "URL", "URI", "ENDPOINT", "HOST", "PORT", "ID", "REF", "KEYREF", "HEADER", "PREFIX", "FIELD", "TTL", "TIMEOUT", "EXPIRY", "EXPIRATION", "LIFETIME", "INTERVAL", "LENGTH", "SIZE", "COUNT", "LIMIT", "ENABLED", "ENABLE", "DISABLED", "REQUIRED", "TYPE", "KIND", "MODE", "FORMAT", "ALGORITHM", "VERSION", "PROVIDER", "STORE", "BACKEND", "MOUNT", "SCOPE", "AUDIENCE", "ISSUER", "POLICY"}
	benignNameWords    = []string{"CHECKSUM", "HASH", "DIGEST", "FINGERPRINT", "TOKENIZER", "TOKENS"}

	fileLikeName    = regexp.MustCompile(`(?i)\.(json|ya?ml|properties|conf|cfg|ini|env|xml|toml|txt|sh|config|tpl)$`)
	nonAlnum        = regexp.MustCompile(`[^A-Z0-9]`)
	varReference    = regexp.MustCompile(`\$\([A-Za-z_][A-Za-z0-9_.-]*\)`)
	templateValue   = regexp.MustCompile(`^(\$\{.*\}|\{\{.*\}\}|<[^>]*>)$`)
	wordValue       = regexp.MustCompile(`(?i)^(true|false|yes|no|on|off|null|none|enabled|disabled)$`)
	digitsValue     = regexp.MustCompile(`^[0-9]+$`)
	plainURLValue   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://\S+$`)
	urlWithPassword = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:([^/\s@]+)@`)
	assignment      = regexp.MustCompile(`(?i)(password|passwd|secret|secret_?key|api_?key|access_?key|private_?key|token)["']?\s*[:=]\s*["']?([^\s"',;]+)`)
	structuredStart = regexp.MustCompile(`^[\[{(<$%]`)
)

// secretShapes are value shapes that are secrets whatever their name.
var secretShapes = []struct {
	what string
	re   *regexp.Regexp
}{
	{"an AWS access key ID", regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{"a private key", regexp.MustCompile(`-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----`)},
	{"an Azure storage account key", regexp.MustCompile(`(?i)AccountKey=[A-Za-z0-9+/]{20,}`)},
	{"an Azure shared access key", regexp.MustCompile(`(?i)SharedAccessKey=[A-Za-z0-9+/]{20,}`)},
	{"a SAS token signature", regexp.MustCompile(`(?i)[?&]sig=[A-Za-z0-9%+/]{20,}`)},
	{"a connection string with a password", regexp.MustCompile(`(?i)(^|;)\s*(password|pwd)\s*=\s*[^;\s$]`)},
	{"a GitHub token", regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})`)},
	{"a Slack token", regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{10,}`)},
	{"a Google API key", regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}`)},
	{"a JWT", regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`)},
}

// secretFindings returns the evidence, sorted and without duplicates.
func secretFindings(name, value string, file bool, extraNames []string) []string {
	found := map[string]bool{}
	if secretName(name, extraNames) && !fileLikeName.MatchString(name) && plausibleSecret(value) {
		found["secret-like name"] = true
	}
	for _, s := range secretShapes {
		if s.re.MatchString(value) {
			found[s.what] = true
		}
	}
	if hasURLPassword(value) {
		found["a URL with a password"] = true
	}
	if file {
		for _, m := range assignment.FindAllStringSubmatch(value, -1) {
			v := m[2]
			if plausibleSecret(v) && !structuredStart.MatchString(v) && utf8.RuneCountInString(v) >= 4 {
				found["a secret assignment"] = true
				break
			}
		}
	}
	out := make([]string, 0, len(found))
	for f := range found {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func compactName(s string) string { return nonAlnum.ReplaceAllString(strings.ToUpper(s), "") }

func secretName(name string, extra []string) bool {
	c := compactName(name)
	if c == "" {
		return false
	}
	hit := false
	for _, m := range secretNameMarkers {
		if strings.Contains(c, m) {
			hit = true
			break
		}
	}
	if !hit {
		for _, e := range extra {
			if m := compactName(e); m != "" && strings.Contains(c, m) {
				hit = true
				break
			}
		}
	}
	if !hit {
		return false
	}
	for _, s := range benignNameSuffixes {
		if strings.HasSuffix(c, s) {
			return false
		}
	}
	for _, w := range benignNameWords {
		if strings.Contains(c, w) {
			return false
		}
	}
	return true
}

// plausibleSecret rules out values that cannot be a secret literal.
func plausibleSecret(value string) bool {
	v := strings.TrimSpace(value)
	switch {
	case v == "",
		varReference.MatchString(v),
		templateValue.MatchString(v),
		wordValue.MatchString(v),
		digitsValue.MatchString(v),
		strings.HasPrefix(v, "/"),
		plainURLValue.MatchString(v) && !hasURLPassword(v):
		return false
	}
	return true
}

func hasURLPassword(v string) bool {
	for _, m := range urlWithPassword.FindAllStringSubmatch(v, -1) {
		if !strings.HasPrefix(m[1], "$(") && !strings.HasPrefix(m[1], "${") {
			return true
		}
	}
	return false
}
