package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/bulwark-k8s/bulwark/internal/controls"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failures  []junitFailed `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
}

type junitFailed struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// writeJUnit renders one test suite per requirement; each finding is a
// failed test case, a passing or unassessed requirement one case.
func writeJUnit(w io.Writer, r *Report) error {
	byReq := map[string][]controls.Finding{}
	for _, f := range r.Findings {
		reqs := f.Requirements
		if len(reqs) == 0 {
			reqs = []string{controls.Custom}
		}
		for _, id := range reqs {
			byReq[id] = append(byReq[id], f)
		}
	}
	out := junitSuites{Name: toolName(r)}
	for _, s := range r.Summary {
		suite := junitSuite{Name: s.ID + " " + s.Title}
		switch {
		case len(byReq[s.ID]) > 0:
			for _, f := range byReq[s.ID] {
				name := fmt.Sprintf("%s %s", f.Check, f.Object)
				text := f.Message
				if f.File != "" {
					text = position(f) + ": " + text
				}
				if f.Remediation != "" {
					text += "\nfix: " + oneLine(f.Remediation)
				}
				suite.Cases = append(suite.Cases, junitCase{
					Name: name, ClassName: s.ID,
					Failures: []junitFailed{{Message: f.Message, Type: strings.ToUpper(f.Severity.String()), Text: text}},
				})
				suite.Failures++
			}
		case s.Status == controls.StatusNotAssessed:
			suite.Cases = append(suite.Cases, junitCase{Name: s.ID, ClassName: s.ID, Skipped: &junitSkipped{Message: s.Reason}})
			suite.Skipped++
		default:
			suite.Cases = append(suite.Cases, junitCase{Name: s.ID, ClassName: s.ID})
		}
		suite.Tests = len(suite.Cases)
		out.Tests += suite.Tests
		out.Failures += suite.Failures
		out.Skipped += suite.Skipped
		out.Suites = append(out.Suites, suite)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
