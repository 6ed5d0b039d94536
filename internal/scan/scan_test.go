package scan

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/config"
	"github.com/bulwark-k8s/bulwark/internal/controls"
)

func TestRunRoutesEveryInput(t *testing.T) {
	dir := t.TempDir()
	suite := "apiVersion: test.gatekeeper.sh/v1alpha1\nkind: Suite\nmetadata: {name: s}\ntests: []\n"
	if err := os.WriteFile(filepath.Join(dir, "suite.yaml"), []byte(suite), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("../../examples/workshop/bulwark.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Options{
		Paths:  []string{"../../examples/workshop/insecure", "../../examples/workshop/aks/insecure/az", dir},
		Config: cfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ConfigFiles == 0 {
		t.Error("the az aks show files were not read as cluster configuration")
	}
	engines := map[string]int{}
	for _, f := range res.Findings {
		engines[f.Engine]++
		if f.Check == "" || len(f.Requirements) == 0 || f.Title == "" {
			t.Errorf("incomplete finding %+v", f)
		}
	}
	for _, e := range []string{controls.EnginePolicy, controls.EnginePosture, controls.EngineAnalyze} {
		if engines[e] == 0 {
			t.Errorf("no %s findings (%v)", e, engines)
		}
	}
	for _, o := range res.Objects {
		if o.Kind() == "Suite" {
			t.Error("a test suite was scanned as a cluster object")
		}
	}
	if len(res.Errors) != 0 {
		t.Errorf("errors: %v", res.Errors)
	}
}
