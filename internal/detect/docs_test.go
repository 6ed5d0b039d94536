package detect

import (
	"os"
	"strings"
	"testing"
)

// TestDocsCoverFieldsAndRules keeps docs/detect.md in step with the code:
// every field (per container kind family) and every default check.
func TestDocsCoverFieldsAndRules(t *testing.T) {
	data, err := os.ReadFile("../../docs/detect.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, f := range Fields() {
		name := strings.NewReplacer(".initContainers.", ".containers.", ".ephemeralContainers.", ".containers.").Replace(f.Name)
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/detect.md does not document field %s", name)
		}
	}
	for _, c := range Checks() {
		if !strings.Contains(doc, "| "+c.ID+" |") {
			t.Errorf("docs/detect.md has no row for %s", c.ID)
		}
	}
}
