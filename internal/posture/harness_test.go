package posture

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/config"
)

const examples = "../../examples/workshop/aks"

// workshopConfig is the workshop's bulwark.yaml (regions eastus, eastus2).
func workshopConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Load("../../examples/workshop/bulwark.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// loadJSON decodes a fixture into plain maps for mutation.
func loadJSON(t testing.TB, path string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(readFile(t, path), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// doc is a mutable JSON document.
type doc = map[string]any

// at walks a path of keys and indexes ("networkProfile", "0", ...).
func at(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i := 0
			for _, c := range p {
				i = i*10 + int(c-'0')
			}
			v = x[i]
		}
	}
	return v
}

// put sets path to val (creating objects on the way).
func put(v any, val any, path ...string) {
	parent := v
	for i, p := range path[:len(path)-1] {
		next := at(parent, p)
		if next == nil {
			next = map[string]any{}
			parent.(map[string]any)[p] = next
		}
		_ = i
		parent = next
	}
	last := path[len(path)-1]
	switch x := parent.(type) {
	case map[string]any:
		x[last] = val
	case []any:
		i := 0
		for _, c := range last {
			i = i*10 + int(c-'0')
		}
		x[i] = val
	}
}

// del removes the last key of path.
func del(v any, path ...string) {
	parent := at(v, path[:len(path)-1]...)
	if m, ok := parent.(map[string]any); ok {
		delete(m, path[len(path)-1])
	}
}

func parseDoc(t testing.TB, name string, v any, opts ...Option) *Input {
	t.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	in, err := Parse(name, data, opts...)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return in
}

// verdictOf runs the checks on inputs and returns check id's verdict,
// merged over every cluster and inventory: any failure fails, then any
// verdict other than pass wins.
func verdictOf(t testing.TB, id string, cfg *config.Config, inputs ...*Input) Verdict {
	t.Helper()
	var out *Verdict
	for _, r := range Assess(inputs, cfg) {
		if r.Check.ID != id {
			continue
		}
		v := r.Verdict
		switch {
		case out == nil:
			out = &v
		case v.Status == Fail && out.Status == Fail:
			out.Failures = append(out.Failures, v.Failures...)
		case v.Status == Fail:
			out = &v
		case out.Status == Pass:
			out = &v
		}
	}
	if out == nil {
		t.Fatalf("check %s did not run", id)
		return Verdict{}
	}
	return *out
}

// statuses maps check ID → status for the (only) cluster of inputs.
func statuses(t testing.TB, cfg *config.Config, inputs ...*Input) map[string]Status {
	t.Helper()
	out := map[string]Status{}
	for _, r := range Assess(inputs, cfg) {
		if r.Cluster.standalone {
			continue
		}
		if prev, dup := out[r.Check.ID]; dup && prev != r.Verdict.Status {
			t.Fatalf("check %s ran twice with different verdicts", r.Check.ID)
		}
		out[r.Check.ID] = r.Verdict.Status
	}
	return out
}

// shapeInputs parses every .json file of a fixture directory.
func shapeInputs(t testing.TB, dir string, opts ...Option) []*Input {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", dir, err)
	}
	var out []*Input
	for _, f := range files {
		if strings.HasSuffix(f, ".parameters.json") {
			continue
		}
		in, err := Parse(f, readFile(t, f), opts...)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, in)
	}
	return out
}
