package controls

import "sort"

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
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if ra, rb := firstReq(a), firstReq(b); ra != rb {
			return reqIndex(ra) < reqIndex(rb)
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
		if a.Object.String() != b.Object.String() {
			return a.Object.String() < b.Object.String()
		}
		return a.Message < b.Message
	})
}

func firstReq(f Finding) string {
	if len(f.Requirements) == 0 {
		return Custom
	}
	return f.Requirements[0]
}

func reqIndex(id string) int {
	for i, r := range Requirements() {
		if r.ID == id {
			return i
		}
	}
	return len(Requirements())
}
