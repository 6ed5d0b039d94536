package controls

import (
	"strings"
	"testing"
)

func TestParseSeverity(t *testing.T) {
	for _, s := range []string{"info", "LOW", "Medium", "high", "critical"} {
		v, err := ParseSeverity(s)
		if err != nil || v.String() != strings.ToLower(s) {
			t.Errorf("%s: %v %v", s, v, err)
		}
	}
	if v, err := ParseSeverity("none"); err != nil || v <= Critical {
		t.Errorf("none: %v %v", v, err)
	}
	if _, err := ParseSeverity("severe"); err == nil {
		t.Error("severe accepted")
	}
}

func TestCatalog(t *testing.T) {
	c := Check{ID: "BW-K8S-001", Requirements: []string{"REQ-02"}, Title: "t", Engine: EnginePolicy}
	cat, err := NewCatalog(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Add(c); err == nil {
		t.Error("duplicate accepted")
	}
	if err := cat.Add(Check{ID: "X", Requirements: []string{"REQ-99"}, Title: "t", Engine: EnginePolicy}); err == nil {
		t.Error("unknown requirement accepted")
	}
	if err := cat.Add(Check{ID: "Y"}); err == nil || !strings.Contains(err.Error(), "requirements, title, engine") {
		t.Errorf("incomplete check: %v", err)
	}
	for _, id := range []string{"BW-K8S-010", "BW-K8S-002", "BW-AKS-001"} {
		if err := cat.Add(Check{ID: id, Requirements: []string{"REQ-02"}, Title: "t", Engine: EnginePolicy}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for _, ch := range cat.Checks() {
		ids = append(ids, ch.ID)
	}
	if strings.Join(ids, ",") != "BW-AKS-001,BW-K8S-001,BW-K8S-002,BW-K8S-010" {
		t.Errorf("order %v", ids)
	}
}

func TestSummarize(t *testing.T) {
	cat, _ := NewCatalog(
		Check{ID: "A", Requirements: []string{"REQ-09"}, Title: "a", Engine: EnginePolicy},
		Check{ID: "B", Requirements: []string{"REQ-09", "REQ-12"}, Title: "b", Engine: EnginePolicy},
		Check{ID: "C", Requirements: []string{"REQ-03"}, Title: "c", Engine: EnginePosture},
		Check{ID: "D", Requirements: []string{"REQ-13"}, Title: "d", Engine: EnginePolicy},
		Check{ID: "E", Requirements: []string{"REQ-10"}, Title: "e", Engine: EnginePolicy},
	)
	var cov Coverage
	cov.Evaluate("A", 3)
	cov.Evaluate("B", 3)
	cov.Evaluate("D", 1)
	cov.Skip("E", "labels.required is empty")
	findings := []Finding{
		{Check: "B", Requirements: []string{"REQ-09", "REQ-12"}, Severity: High},
		{Check: "D", Requirements: []string{"REQ-13"}, Severity: Info},
		{Check: "user", Severity: Low},
	}
	rows := map[string]RequirementStatus{}
	for _, r := range Summarize(cat, cov, findings) {
		rows[r.ID] = r
	}
	want := map[string]string{"REQ-09": StatusFail, "REQ-12": StatusFail, "REQ-13": StatusPass, "REQ-03": StatusNotAssessed, "REQ-10": StatusNotAssessed, Custom: StatusFail}
	for id, st := range want {
		if rows[id].Status != st {
			t.Errorf("%s: status %q, want %q (%+v)", id, rows[id].Status, st, rows[id])
		}
	}
	if r := rows["REQ-09"]; r.Failed != 1 || r.Passed != 1 {
		t.Errorf("REQ-09 counts %+v", r)
	}
	if !strings.Contains(rows["REQ-03"].Reason, "cluster's configuration") || rows["REQ-10"].Reason != "labels.required is empty" {
		t.Errorf("reasons %q / %q", rows["REQ-03"].Reason, rows["REQ-10"].Reason)
	}
	if rows["REQ-01"].Reason == "" {
		t.Error("a requirement without checks has no reason")
	}
}

func TestSortFindings(t *testing.T) {
	fs := []Finding{
		{Check: "B", Requirements: []string{"REQ-13"}, Severity: Low},
		{Check: "A", Requirements: []string{"REQ-02"}, Severity: Low, File: "b.yaml"},
		{Check: "A", Requirements: []string{"REQ-02"}, Severity: Low, File: "a.yaml", Line: 9},
		{Check: "C", Requirements: []string{"REQ-02"}, Severity: Critical},
	}
	SortFindings(fs)
	var got []string
	for _, f := range fs {
		got = append(got, f.Check+f.File)
	}
	if strings.Join(got, ",") != "C,Aa.yaml,Ab.yaml,B" {
		t.Errorf("order %v", got)
	}
}
