package posture_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/config"
	"github.com/bulwark-k8s/bulwark/internal/posture"
)

// A partial `az aks show` document: what it gives is judged, what it
// leaves out is not assessed, naming the field.
func ExampleEvaluate() {
	show := []byte(`{
  "type": "Microsoft.ContainerService/ManagedClusters",
  "name": "aks",
  "resourceGroup": "rg",
  "location": "eastus",
  "disableLocalAccounts": false,
  "enableRbac": true
}`)
	in, err := posture.Parse("aks.json", show)
	if err != nil {
		fmt.Println(err)
		return
	}
	findings, cov := posture.Evaluate([]*posture.Input{in}, config.Default())
	for _, f := range findings {
		fmt.Printf("%s %s:%d %s\n", f.Check, f.File, f.Line, f.Message)
	}
	fmt.Println("BW-AKS-004 evaluated:", cov.Evaluated["BW-AKS-004"])
	fmt.Println("BW-AKS-001 not assessed:", cov.NotAssessed["BW-AKS-001"])
	// Output:
	// BW-AKS-003 aks.json:6 local accounts are enabled: az aks get-credentials --admin hands out a static cluster-admin credential that bypasses Entra ID (disableLocalAccounts is false)
	// BW-AKS-004 evaluated: 1
	// BW-AKS-001 not assessed: aks.json: cluster aks: aadProfile.managed is missing
}

func BenchmarkParseEvaluatePlan(b *testing.B) {
	data, err := os.ReadFile("../../examples/workshop/aks/secure/terraform/plan.json")
	if err != nil {
		b.Fatal(err)
	}
	cfg := config.Default()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		in, err := posture.Parse("plan.json", data)
		if err != nil {
			b.Fatal(err)
		}
		posture.Evaluate([]*posture.Input{in}, cfg)
	}
}
