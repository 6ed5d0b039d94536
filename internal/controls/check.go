package controls

import (
	"fmt"
	"sort"
	"strings"
)

// Engine names, as they appear in findings and the catalog.
const (
	EnginePolicy  = "policy"
	EnginePosture = "posture"
	EngineDetect  = "detect"
	EngineAnalyze = "analyze"
)

// Check is one entry of the catalog: something an engine evaluates.
type Check struct {
	ID           string   `json:"id"`
	Requirements []string `json:"requirements"`
	Severity     Severity `json:"severity"`
	Title        string   `json:"title"`
	Remediation  string   `json:"remediation"`
	// Anchor names the equivalent control elsewhere (gatekeeper-library
	// template, Azure Policy built-in, Falco rule, CIS item, PSS check).
	Anchor string `json:"anchor,omitempty"`
	Engine string `json:"engine"`
	// Scope says where the check can run: "scan", "admission" or both.
	Scope string `json:"scope,omitempty"`
}

// Validate reports what is missing from c.
func (c Check) Validate() error {
	var missing []string
	if c.ID == "" {
		missing = append(missing, "id")
	}
	if len(c.Requirements) == 0 {
		missing = append(missing, "requirements")
	}
	if c.Title == "" {
		missing = append(missing, "title")
	}
	if c.Engine == "" {
		missing = append(missing, "engine")
	}
	if len(missing) > 0 {
		return fmt.Errorf("check %q: missing %s", c.ID, strings.Join(missing, ", "))
	}
	for _, r := range c.Requirements {
		if _, ok := LookupRequirement(r); !ok && r != Custom {
			return fmt.Errorf("check %s: unknown requirement %q", c.ID, r)
		}
	}
	return nil
}

// Catalog is the set of checks known to this run, keyed by ID.
type Catalog struct {
	checks map[string]Check
}

// NewCatalog builds a catalog, rejecting duplicate or invalid checks.
func NewCatalog(checks ...Check) (*Catalog, error) {
	c := &Catalog{checks: make(map[string]Check, len(checks))}
	for _, ch := range checks {
		if err := c.Add(ch); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Add registers a check.
func (c *Catalog) Add(ch Check) error {
	if err := ch.Validate(); err != nil {
		return err
	}
	if _, dup := c.checks[ch.ID]; dup {
		return fmt.Errorf("check %s registered twice", ch.ID)
	}
	c.checks[ch.ID] = ch
	return nil
}

// Lookup returns the check with the given ID.
func (c *Catalog) Lookup(id string) (Check, bool) {
	ch, ok := c.checks[id]
	return ch, ok
}

// Checks returns every check sorted by ID.
func (c *Catalog) Checks() []Check {
	out := make([]Check, 0, len(c.checks))
	for _, ch := range c.checks {
		out = append(out, ch)
	}
	sort.Slice(out, func(i, j int) bool { return lessID(out[i].ID, out[j].ID) })
	return out
}

// ForRequirement returns the checks that meet requirement id, sorted by ID.
func (c *Catalog) ForRequirement(id string) []Check {
	var out []Check
	for _, ch := range c.Checks() {
		for _, r := range ch.Requirements {
			if r == id {
				out = append(out, ch)
				break
			}
		}
	}
	return out
}

// lessID orders IDs with the same prefix by their numeric suffix.
func lessID(a, b string) bool {
	pa, na := splitID(a)
	pb, nb := splitID(b)
	if pa != pb {
		return pa < pb
	}
	if na != nb {
		return na < nb
	}
	return a < b
}

func splitID(id string) (string, int) {
	i := strings.LastIndexByte(id, '-')
	if i < 0 {
		return id, 0
	}
	n := 0
	for _, r := range id[i+1:] {
		if r < '0' || r > '9' {
			return id, 0
		}
		n = n*10 + int(r-'0')
	}
	return id[:i], n
}
