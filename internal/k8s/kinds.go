package k8s

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// builtinGroups are the API groups Kubernetes itself serves, from the
// client-go scheme.
var builtinGroups = func() map[string][]string {
	kinds := map[string]map[string]bool{}
	for gvk := range scheme.Scheme.AllKnownTypes() {
		if gvk.Version == "__internal" {
			continue
		}
		if kinds[gvk.Group] == nil {
			kinds[gvk.Group] = map[string]bool{}
		}
		kinds[gvk.Group][gvk.Kind] = true
	}
	out := map[string][]string{}
	for g, ks := range kinds {
		for k := range ks {
			out[g] = append(out[g], k)
		}
		sort.Strings(out[g])
	}
	return out
}()

// CheckKind reports an object whose apiVersion is in one of Kubernetes'
// own API groups but whose kind or version Kubernetes does not serve, such
// as a misspelt "kind: Deploymnet" that would otherwise escape every
// check. Objects of other groups (custom resources) are not judged.
func CheckKind(o *Object) error {
	gvk := o.GroupVersionKind()
	if gvk.Version == "" {
		return fmt.Errorf("apiVersion %q is not group/version", o.APIVersion())
	}
	kinds, builtin := builtinGroups[gvk.Group]
	if !builtin || scheme.Scheme.Recognizes(gvk) {
		return nil
	}
	if strings.HasSuffix(gvk.Kind, "List") || gvk.Kind == "Status" {
		return nil
	}
	group := gvk.Group
	if group == "" {
		group = "core"
	}
	for _, k := range kinds {
		if k == gvk.Kind {
			return fmt.Errorf("%s %s is not served by Kubernetes (versions of %s: %s)", o.APIVersion(), gvk.Kind, gvk.Kind, strings.Join(versionsOf(gvk.GroupKind()), ", "))
		}
	}
	if s := suggest(gvk.Kind, kinds); s != "" {
		return fmt.Errorf("unknown kind %q in the %s API group (did you mean %q?)", gvk.Kind, group, s)
	}
	return fmt.Errorf("unknown kind %q in the %s API group", gvk.Kind, group)
}

func versionsOf(gk schema.GroupKind) []string {
	var out []string
	for gvk := range scheme.Scheme.AllKnownTypes() {
		if gvk.GroupKind() == gk && gvk.Version != "__internal" {
			out = append(out, gvk.GroupVersion().String())
		}
	}
	sort.Strings(out)
	return out
}

// suggest returns the known kind closest to k, when close enough.
func suggest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := distance(strings.ToLower(k), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
