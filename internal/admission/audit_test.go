package admission

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSplitReports(t *testing.T) {
	var results []map[string]any
	for i := 0; i < 6000; i++ {
		results = append(results, map[string]any{
			"policy": "BW-K8S-008", "result": "fail", "message": strings.Repeat("m", 300),
			"resources": []any{map[string]any{"kind": "Pod", "name": "p"}},
		})
	}
	results[5]["result"] = "warn"
	reports := splitReports("production", results, 7)
	if len(reports) < 2 {
		t.Fatalf("%d reports for about 2 MB of results, want several", len(reports))
	}
	total := 0
	for i, r := range reports {
		b, err := json.Marshal(map[string]any{"metadata": map[string]any{"name": r.name, "namespace": r.namespace}, "summary": r.summary, "results": r.results})
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > MaxReportBytes-2048 { // room for the API server's own fields
			t.Errorf("report %s is %d bytes", r.name, len(b))
		}
		want := "bulwark-audit"
		if i > 0 {
			want += "-" + string(rune('0'+i))
		}
		if r.name != want {
			t.Errorf("report %d named %s, want %s", i, r.name, want)
		}
		total += len(r.results)
	}
	if total != len(results) {
		t.Errorf("%d results in reports, want %d", total, len(results))
	}
	if s := reports[0].summary; s["pass"] != 7 || s["warn"] != 1 {
		t.Errorf("first summary %v, want pass 7 and warn 1", s)
	}
	if s := reports[1].summary; s["pass"] != 0 {
		t.Errorf("second summary %v, want pass 0", s)
	}
	// One small report stays one.
	if r := splitReports("", results[:3], 0); len(r) != 1 || r[0].summary["fail"] != 3 {
		t.Errorf("small: %d reports, summary %v", len(r), r[0].summary)
	}
}
