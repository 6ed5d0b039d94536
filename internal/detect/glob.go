package detect

import (
	"strings"
	"unicode/utf8"
)

// globMatch reports whether s matches the shell pattern p, as fnmatch(3)
// without FNM_PATHNAME (Falco's glob): '*' matches any run of characters,
// '/' included; '?' one character; '[...]' a class ('!' or '^' negates);
// a backslash escapes the next character.
func globMatch(p, s string) bool {
	px, sx := 0, 0
	// On a mismatch after a '*', retry from just past that star with one
	// more character of s consumed.
	starPx, starSx := -1, -1
	for px < len(p) || sx < len(s) {
		if px < len(p) {
			switch c := p[px]; c {
			case '*':
				starPx, starSx = px, sx
				px++
				continue
			case '?':
				if sx < len(s) {
					_, n := utf8.DecodeRuneInString(s[sx:])
					px++
					sx += n
					continue
				}
			case '[':
				if sx < len(s) {
					r, n := utf8.DecodeRuneInString(s[sx:])
					if matched, end, ok := matchClass(p, px, r); ok {
						if matched {
							px, sx = end, sx+n
							continue
						}
					} else if s[sx] == '[' {
						px++
						sx++
						continue
					}
				}
			case '\\':
				lit := byte('\\')
				step := 1
				if px+1 < len(p) {
					lit, step = p[px+1], 2
				}
				if sx < len(s) && s[sx] == lit {
					px += step
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if starPx >= 0 && starSx < len(s) {
			_, n := utf8.DecodeRuneInString(s[starSx:])
			starSx += n
			px, sx = starPx+1, starSx
			continue
		}
		return false
	}
	return true
}

// matchClass matches rune r against the class starting at p[i] == '['.
// ok is false when the class is not closed (then '[' is literal).
func matchClass(p string, i int, r rune) (matched bool, end int, ok bool) {
	j := i + 1
	negate := false
	if j < len(p) && (p[j] == '!' || p[j] == '^') {
		negate = true
		j++
	}
	first := true
	for j < len(p) {
		if p[j] == ']' && !first {
			return matched != negate, j + 1, true
		}
		first = false
		lo, n := utf8.DecodeRuneInString(p[j:])
		if lo == '\\' && j+1 < len(p) {
			lo, n = utf8.DecodeRuneInString(p[j+1:])
			n++
		}
		j += n
		hi := lo
		if j+1 < len(p) && p[j] == '-' && p[j+1] != ']' {
			var m int
			hi, m = utf8.DecodeRuneInString(p[j+1:])
			j += 1 + m
		}
		if lo <= r && r <= hi {
			matched = true
		}
	}
	return false, 0, false
}

// pathPattern is a pmatch prefix split into path components.
type pathPattern struct {
	abs   bool
	comps []string
	glob  []bool
}

func newPathPattern(p string) pathPattern {
	pp := pathPattern{abs: strings.HasPrefix(p, "/")}
	for c := range strings.SplitSeq(p, "/") {
		if c == "" {
			continue
		}
		pp.comps = append(pp.comps, c)
		pp.glob = append(pp.glob, strings.ContainsAny(c, "*?[\\"))
	}
	return pp
}

// pmatch reports whether path s is one of the patterns or below one:
// "/etc" matches "/etc" and "/etc/passwd" but not "/etcd". Glob
// characters match within one component.
func pmatch(pats []pathPattern, s string) bool {
	abs := strings.HasPrefix(s, "/")
	for _, pat := range pats {
		if pat.abs != abs {
			continue
		}
		rest := s
		ok := true
		for i, comp := range pat.comps {
			rest = strings.TrimLeft(rest, "/")
			if rest == "" {
				ok = false
				break
			}
			var seg string
			seg, rest, _ = strings.Cut(rest, "/")
			if pat.glob[i] {
				if !globMatch(comp, seg) {
					ok = false
					break
				}
			} else if comp != seg {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
