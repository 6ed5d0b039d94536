package posture

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/config"
)

// FuzzParse feeds arbitrary bytes to shape detection, the normalisers
// and the checks: none may panic, and Sniff must agree with Parse.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(examples, "*", "*", "*.json"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		`{}`, `[]`, `null`, `[[[[`, `{"value": [1]}`,
		`{"type": "Microsoft.ContainerService/managedClusters", "properties": {"agentPoolProfiles": "[variables('x')]"}}`,
		`{"$schema": "deploymentTemplate.json", "variables": {"a": "[variables('b')]", "b": "[variables('a')]"}, "resources": [{"type": "Microsoft.ContainerService/managedClusters", "name": "[variables('a')]", "properties": {"addonProfiles": "[if(true(), createObject('x', 1), json('null'))]"}}]}`,
		`{"$schema": "deploymentTemplate.json", "resources": [{"type": "Microsoft.Resources/deployments", "properties": {"expressionEvaluationOptions": {"scope": "inner"}, "parameters": {"p": {"value": "[concat(']"}}, "template": {"resources": [{"type": "Microsoft.ContainerService/managedClusters", "name": "[parameters('p')[0].x]", "properties": {}}]}}}]}`,
		`{"terraform_version": "1", "planned_values": {"root_module": {"child_modules": [{"resources": [{"mode": "managed", "type": "azurerm_kubernetes_cluster", "values": {"default_node_pool": [null]}}]}]}}, "resource_changes": [{"change": {"after_unknown": {"default_node_pool": true}}}]}`,
	} {
		f.Add([]byte(s))
	}
	cfg := config.Default()
	f.Fuzz(func(t *testing.T, data []byte) {
		sniffed := Sniff(data)
		in, err := Parse("fuzz.json", data)
		if err != nil {
			if sniffed {
				t.Fatalf("Sniff accepted what Parse rejects: %v", err)
			}
			return
		}
		findings, _ := Evaluate([]*Input{in}, cfg)
		for _, fd := range findings {
			if fd.Engine != "posture" || fd.Check == "" {
				t.Fatalf("bad finding %+v", fd)
			}
		}
	})
}
