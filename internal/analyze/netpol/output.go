package netpol

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Connection is an allowed connection between two endpoints.
type Connection struct {
	From  Endpoint
	To    Endpoint
	Ports Ports
}

// Filter narrows the connections listed. From and To are glob patterns
// ("prod/*", "*/web", "internet") matched against endpoint names; empty
// matches everything.
type Filter struct {
	From, To string
	// External includes connections to and from outside addresses.
	External bool
}

func (f Filter) match(pattern, name string) bool {
	if pattern == "" {
		return true
	}
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

// ValidateFilter checks the filter's patterns.
func ValidateFilter(f Filter) error {
	for _, p := range []string{f.From, f.To} {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("pattern %q: %w", p, err)
		}
	}
	return nil
}

// Connections returns every allowed connection between two different
// workloads, and with f.External between workloads and outside ranges, in
// order of source then destination.
func (a *Analysis) Connections(f Filter) []Connection {
	var out []Connection
	a.EachConnection(f, func(c Connection) { out = append(out, c) })
	return out
}

// EachConnection calls fn for every connection Connections would return,
// without collecting them.
func (a *Analysis) EachConnection(f Filter, fn func(Connection)) {
	var srcs, dsts []Endpoint
	for _, w := range a.in.Workloads {
		e, _ := a.WorkloadEndpoint(w)
		name := a.Name(e)
		if f.match(f.From, name) {
			srcs = append(srcs, e)
		}
		if f.match(f.To, name) {
			dsts = append(dsts, e)
		}
	}
	var exts []Endpoint
	if f.External {
		exts = a.Externals()
	}
	for _, x := range exts {
		if !f.match(f.From, a.Name(x)) {
			continue
		}
		for _, d := range dsts {
			if p := a.reach(x.id, d.id); p != portsNone {
				fn(Connection{From: x, To: d, Ports: a.ports.get(p)})
			}
		}
	}
	for _, s := range srcs {
		for _, d := range dsts {
			if s.Workload == d.Workload {
				continue
			}
			if p := a.reach(s.id, d.id); p != portsNone {
				fn(Connection{From: s, To: d, Ports: a.ports.get(p)})
			}
		}
		for _, x := range exts {
			if !f.match(f.To, a.Name(x)) {
				continue
			}
			if p := a.reach(s.id, x.id); p != portsNone {
				fn(Connection{From: s, To: x, Ports: a.ports.get(p)})
			}
		}
	}
}

// Output formats of WriteConnections and WriteMatrix.
var Formats = []string{"text", "json", "csv", "dot", "md"}

// CheckFormat validates an output format name.
func CheckFormat(format string) error {
	for _, f := range Formats {
		if f == format {
			return nil
		}
	}
	return fmt.Errorf("unknown output format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

type connectionJSON struct {
	From     string     `json:"from"`
	To       string     `json:"to"`
	AllPorts bool       `json:"allPorts"`
	Ports    []portJSON `json:"ports"`
	Summary  string     `json:"summary"`
}

type portJSON struct {
	Protocol string `json:"protocol"`
	Port     int    `json:"port"`
	EndPort  int    `json:"endPort,omitempty"`
}

func portsJSON(p Ports) []portJSON {
	out := []portJSON{}
	for _, proto := range protocols {
		for _, s := range p.Spans(proto) {
			pj := portJSON{Protocol: proto, Port: int(s.From)}
			if s.To != s.From {
				pj.EndPort = int(s.To)
			}
			out = append(out, pj)
		}
	}
	return out
}

// WriteConnections renders connections: "src => dst : TCP 8080" lines
// (text), JSON, CSV, Graphviz dot or a Markdown table.
func (a *Analysis) WriteConnections(w io.Writer, format string, conns []Connection) error {
	switch format {
	case "text", "":
		bw := &errWriter{w: w}
		for _, c := range conns {
			bw.printf("%s => %s : %s\n", a.Name(c.From), a.Name(c.To), c.Ports)
		}
		return bw.err
	case "json":
		out := make([]connectionJSON, 0, len(conns))
		for _, c := range conns {
			out = append(out, connectionJSON{From: a.Name(c.From), To: a.Name(c.To), AllPorts: c.Ports.All(), Ports: portsJSON(c.Ports), Summary: c.Ports.String()})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"connections": out})
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"from", "to", "ports"})
		for _, c := range conns {
			_ = cw.Write([]string{a.Name(c.From), a.Name(c.To), c.Ports.String()})
		}
		cw.Flush()
		return cw.Error()
	case "dot":
		bw := &errWriter{w: w}
		bw.printf("digraph netpol {\n  rankdir=LR;\n  node [shape=box];\n")
		for _, c := range conns {
			bw.printf("  %s -> %s [label=%s];\n", strconv.Quote(a.Name(c.From)), strconv.Quote(a.Name(c.To)), strconv.Quote(c.Ports.String()))
		}
		bw.printf("}\n")
		return bw.err
	case "md":
		bw := &errWriter{w: w}
		bw.printf("| From | To | Ports |\n|---|---|---|\n")
		for _, c := range conns {
			bw.printf("| %s | %s | %s |\n", mdEscape(a.Name(c.From)), mdEscape(a.Name(c.To)), mdEscape(c.Ports.String()))
		}
		return bw.err
	}
	return CheckFormat(format)
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// Cell is one cell of the namespace matrix: how the workloads of one
// namespace (or the internet) reach those of another.
type Cell struct {
	// Pairs counts (source, destination) workload pairs; Allowed those
	// that may connect on some port; AllPorts those that may on every port.
	Pairs    int `json:"pairs"`
	Allowed  int `json:"allowed"`
	AllPorts int `json:"allPorts"`
}

// State renders the cell: "-" (no pairs), "none", "all" (every pair on
// every port), or "some (allowed/pairs)".
func (c Cell) State() string {
	switch {
	case c.Pairs == 0:
		return "-"
	case c.Allowed == 0:
		return "none"
	case c.AllPorts == c.Pairs:
		return "all"
	}
	return fmt.Sprintf("some (%d/%d)", c.Allowed, c.Pairs)
}

// Matrix is the namespace × namespace connectivity, with the internet as
// an extra row and column.
type Matrix struct {
	// Names are the row and column names: the namespaces, then "internet".
	Names []string `json:"names"`
	// Cells[i][j] is from Names[i] to Names[j].
	Cells [][]Cell `json:"cells"`
}

// Matrix computes the namespace matrix. Pairs of a workload with itself are
// left out; the internet row and column count each workload once.
func (a *Analysis) Matrix() Matrix {
	nss := a.in.NamespaceNames()
	idx := map[string]int{}
	for i, n := range nss {
		idx[n] = i
	}
	inet := len(nss)
	m := Matrix{Names: append(append([]string(nil), nss...), "internet"), Cells: make([][]Cell, len(nss)+1)}
	for i := range m.Cells {
		m.Cells[i] = make([]Cell, len(nss)+1)
	}
	internet := len(a.classes) + a.ext.internet
	all := a.ports.intern(AllPorts())
	add := func(c *Cell, p portID, mult int) {
		c.Pairs += mult
		if p != portsNone {
			c.Allowed += mult
			if p == all {
				c.AllPorts += mult
			}
		}
	}
	nsOf := make([]int, len(a.classes))
	for c, cl := range a.classes {
		nsOf[c] = idx[cl.ns]
	}
	for s, sc := range a.classes {
		si := nsOf[s]
		row := m.Cells[si]
		ns := len(sc.workloads)
		add(&m.Cells[si][inet], a.reach(s, internet), ns)
		add(&m.Cells[inet][si], a.reach(internet, s), ns)
		for d, dc := range a.classes {
			mult := ns * len(dc.workloads)
			if s == d {
				mult -= ns // a workload with itself
			}
			if mult == 0 {
				continue
			}
			add(&row[nsOf[d]], a.reach(s, d), mult)
		}
	}
	return m
}

// WriteMatrix renders the matrix as a table (text), JSON, CSV or Markdown
// (dot is not a matrix format).
func WriteMatrix(w io.Writer, format string, m Matrix) error {
	switch format {
	case "text", "":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprint(tw, "FROM \\ TO")
		for _, n := range m.Names {
			fmt.Fprintf(tw, "\t%s", n)
		}
		fmt.Fprintln(tw)
		for i, n := range m.Names {
			fmt.Fprint(tw, n)
			for j := range m.Names {
				fmt.Fprintf(tw, "\t%s", m.Cells[i][j].State())
			}
			fmt.Fprintln(tw)
		}
		return tw.Flush()
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write(append([]string{"from\\to"}, m.Names...))
		for i, n := range m.Names {
			row := []string{n}
			for j := range m.Names {
				row = append(row, m.Cells[i][j].State())
			}
			_ = cw.Write(row)
		}
		cw.Flush()
		return cw.Error()
	case "md":
		bw := &errWriter{w: w}
		bw.printf("| from \\ to |")
		for _, n := range m.Names {
			bw.printf(" %s |", mdEscape(n))
		}
		bw.printf("\n|---|%s\n", strings.Repeat("---|", len(m.Names)))
		for i, n := range m.Names {
			bw.printf("| %s |", mdEscape(n))
			for j := range m.Names {
				bw.printf(" %s |", m.Cells[i][j].State())
			}
			bw.printf("\n")
		}
		return bw.err
	case "dot":
		return fmt.Errorf("the matrix has no dot format (use netpol -o dot for the graph)")
	}
	return CheckFormat(format)
}
