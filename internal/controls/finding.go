package controls

import (
	"sort"
	"sync"
)

// ObjectRef names the object a finding is about.
type ObjectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
}

// String renders the reference as kind/namespace/name (or kind/name).
func (o ObjectRef) String() string {
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

// Finding is one failed check on one object. Every engine produces Findings
// and every report reads only Findings.
type Finding struct {
	Check             string    `json:"check"`
	Requirements      []string  `json:"requirements"`
	Severity          Severity  `json:"severity"`
	Title             string    `json:"title"`
	Message           string    `json:"message"`
	Remediation       string    `json:"remediation"`
	Engine            string    `json:"engine"`
	EnforcementAction string    `json:"enforcementAction"`
	Object            ObjectRef `json:"object"`
	File              string    `json:"file"`
	Line              int       `json:"line"`
}

// SortFindings orders findings by requirement, severity (worst first),
// check, file, line and object, so reports are stable.
func SortFindings(fs []Finding) {
	// What the comparison needs beyond the findings' own fields, computed
	// once per finding rather than once per comparison.
	keys := make([]findingKey, len(fs))
	for i := range fs {
		keys[i] = findingKey{req: firstReq(fs[i]), obj: fs[i].Object.String()}
		keys[i].reqIndex = reqIndex(keys[i].req)
	}
	sort.Stable(findingOrder{fs, keys})
}

type findingKey struct {
	req      string
	reqIndex int
	obj      string
}

// findingOrder sorts findings and their keys together.
type findingOrder struct {
	fs   []Finding
	keys []findingKey
}

func (o findingOrder) Len() int { return len(o.fs) }

func (o findingOrder) Swap(i, j int) {
	o.fs[i], o.fs[j] = o.fs[j], o.fs[i]
	o.keys[i], o.keys[j] = o.keys[j], o.keys[i]
}

func (o findingOrder) Less(i, j int) bool {
	a, b := &o.fs[i], &o.fs[j]
	ka, kb := &o.keys[i], &o.keys[j]
	if ka.req != kb.req {
		return ka.reqIndex < kb.reqIndex
	}
	if a.Severity != b.Severity {
		return a.Severity > b.Severity
	}
	if a.Check != b.Check {
		return lessID(a.Check, b.Check)
	}
	if a.File != b.File {
		return a.File < b.File
	}
	if a.Line != b.Line {
		return a.Line < b.Line
	}
	if ka.obj != kb.obj {
		return ka.obj < kb.obj
	}
	return a.Message < b.Message
}

func firstReq(f Finding) string {
	if len(f.Requirements) == 0 {
		return Custom
	}
	return f.Requirements[0]
}

// reqIndexes maps a requirement ID to its place in Requirements(), and
// returns how many there are.
var reqIndexes = sync.OnceValues(func() (map[string]int, int) {
	reqs := Requirements()
	m := make(map[string]int, len(reqs))
	for i, r := range reqs {
		if _, ok := m[r.ID]; !ok {
			m[r.ID] = i
		}
	}
	return m, len(reqs)
})

// reqIndex is the place of requirement id in Requirements(), or the
// number of requirements when it is not there.
func reqIndex(id string) int {
	m, n := reqIndexes()
	if i, ok := m[id]; ok {
		return i
	}
	return n
}
