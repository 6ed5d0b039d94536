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
		Name: "bulwark.secret_findings",
		Decl: types.NewFunction(types.Args(types.S, types.S, types.B, types.NewArray(nil, types.A)), types.NewSet(types.S)),
		// Not memoized by OPA: its key would print the value (a whole
		// ConfigMap entry) on every call, and the Rego functions that call
		// this one are cached within an evaluation anyway.
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
// Each has literals one of which any match contains (case-insensitively
// when fold is set): the regular expression runs only on values that hold
// one, which most values do not.
var secretShapes = []struct {
	what     string
	re       *regexp.Regexp
	literals []string
	fold     bool
}{
	{"an AWS access key ID", regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`), []string{"AKIA", "ASIA"}, false},
	{"a private key", regexp.MustCompile(`-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----`), []string{"PRIVATE KEY"}, false},
	{"an Azure storage account key", regexp.MustCompile(`(?i)AccountKey=[A-Za-z0-9+/]{20,}`), []string{"accountkey="}, true},
	{"an Azure shared access key", regexp.MustCompile(`(?i)SharedAccessKey=[A-Za-z0-9+/]{20,}`), []string{"sharedaccesskey="}, true},
	{"a SAS token signature", regexp.MustCompile(`(?i)[?&]sig=[A-Za-z0-9%+/]{20,}`), []string{"sig="}, true},
	{"a connection string with a password", regexp.MustCompile(`(?i)(^|;)\s*(password|pwd)\s*=\s*[^;\s$]`), []string{"password", "pwd"}, true},
	{"a GitHub token", regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})`), []string{"gh", "github_pat_"}, false},
	{"a Slack token", regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{10,}`), []string{"xox"}, false},
	{"a Google API key", regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}`), []string{"AIza"}, false},
	{"a JWT", regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`), []string{"eyJ"}, false},
}

// mayContain reports whether s may hold one of the literals: certainly when
// it holds one; with fold, also (without looking) when s is not ASCII,
// where case-insensitive matching also folds characters such as the Kelvin
// sign into ASCII letters. It is a cheap necessary condition for a match
// of an expression that requires one of the literals.
func mayContain(s string, literals []string, fold bool) bool {
	if fold && !isASCII(s) {
		return true
	}
	for _, l := range literals {
		if fold && containsFoldASCII(s, l) || !fold && strings.Contains(s, l) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// containsFoldASCII reports whether s contains lower (lowercase ASCII)
// ignoring ASCII case.
func containsFoldASCII(s, lower string) bool {
	n := len(lower)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// secretFindings returns the evidence, sorted and without duplicates.
func secretFindings(name, value string, file bool, extraNames []string) []string {
	found := map[string]bool{}
	if secretName(name, extraNames) && !fileLikeName.MatchString(name) && plausibleSecret(value) {
		found["secret-like name"] = true
	}
	for _, s := range secretShapes {
		if mayContain(value, s.literals, s.fold) && s.re.MatchString(value) {
			found[s.what] = true
		}
	}
	if hasURLPassword(value) {
		found["a URL with a password"] = true
	}
	if file && mayContain(value, assignmentLiterals, true) {
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

// assignmentLiterals are in every match of assignment.
var assignmentLiterals = []string{"pass", "secret", "key", "token"}

// compactName is the name in upper case without anything but A-Z and 0-9
// (what nonAlnum matches, removed).
func compactName(s string) string {
	u := strings.ToUpper(s)
	b := make([]byte, 0, len(u))
	for i := 0; i < len(u); i++ {
		if c := u[i]; 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			b = append(b, c)
		}
	}
	return string(b)
}

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
	// The checks before each expression are necessary for it to match.
	switch {
	case v == "",
		strings.Contains(v, "$(") && varReference.MatchString(v),
		strings.ContainsRune("${<", rune(v[0])) && templateValue.MatchString(v),
		// "disabled", the longest word, in characters of up to 3 bytes
		// (the Kelvin sign folds to k).
		len(v) <= 3*len("disabled") && wordValue.MatchString(v),
		allDigits(v),
		strings.HasPrefix(v, "/"),
		strings.Contains(v, "://") && plainURLValue.MatchString(v) && !hasURLPassword(v):
		return false
	}
	return true
}

// allDigits is digitsValue.MatchString.
func allDigits(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

func hasURLPassword(v string) bool {
	if !strings.Contains(v, "://") || !strings.Contains(v, "@") {
		return false
	}
	for _, m := range urlWithPassword.FindAllStringSubmatch(v, -1) {
		if !strings.HasPrefix(m[1], "$(") && !strings.HasPrefix(m[1], "${") {
			return true
		}
	}
	return false
}
