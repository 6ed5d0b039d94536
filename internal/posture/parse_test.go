package posture

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseBadInput(t *testing.T) {
	cases := []struct {
		name string
		data string
		// syntax: a *SyntaxError at line; otherwise a *ShapeError whose
		// text contains text.
		syntaxLine int
		text       string
	}{
		{name: "not a shape", data: `{"foo": 1}`, text: "the JSON object is not a posture input"},
		{name: "kubernetes manifest", data: `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}`, text: "looks like a Kubernetes manifest"},
		{name: "string", data: `"aks"`, text: "a JSON string is not a posture input"},
		{name: "bad list element", data: `[{"type": "Microsoft.ContainerService/ManagedClusters", "name": "a"}, {"x": 1}]`, text: "element 1 of the list"},
		{name: "parameters file", data: `{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#", "parameters": {}}`, text: "--parameters"},
		{name: "missing comma", data: "{\n  \"a\": 1\n  \"b\": 2\n}", syntaxLine: 3},
		{name: "truncated", data: "{\n  \"type\": \"Microsoft.ContainerService/managedClusters\",\n  \"properties\": {", syntaxLine: 3},
		{name: "trailing garbage", data: "{}\n}", syntaxLine: 2},
		{name: "bad number", data: "[\n 01\n]", syntaxLine: 2},
		{name: "empty", data: "  \n", syntaxLine: 2},
		{name: "yaml", data: "apiVersion: v1\nkind: Pod\n", syntaxLine: 1},
		{name: "too deep", data: strings.Repeat("[", maxDepth+10) + strings.Repeat("]", maxDepth+10), syntaxLine: 1},
		{name: "newline in string", data: "{\"a\": \"x\ny\"}", syntaxLine: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("in.json", []byte(tc.data))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), "in.json") {
				t.Errorf("error does not name the file: %v", err)
			}
			if tc.syntaxLine > 0 {
				var se *SyntaxError
				if !errors.As(err, &se) || se.Line != tc.syntaxLine {
					t.Fatalf("want a syntax error at line %d, got %v", tc.syntaxLine, err)
				}
				if !strings.HasPrefix(err.Error(), "in.json:") {
					t.Errorf("not file:line: %v", err)
				}
				return
			}
			var sh *ShapeError
			if !errors.As(err, &sh) {
				t.Fatalf("want a shape error, got %v", err)
			}
			for _, want := range []string{tc.text, "az aks show", "ARM template", "Terraform plan", "az monitor diagnostic-settings list"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestParseShapes(t *testing.T) {
	cases := map[string]Shape{
		"secure/az/aks-show.json":                ShapeAzCLI,
		"secure/az/diagnostic-settings.json":     ShapeDiagnostics,
		"secure/az/k8s-extensions.json":          ShapeExtensions,
		"secure/arm/azuredeploy.json":            ShapeARM,
		"secure/terraform/plan.json":             ShapeTerraform,
		"insecure/az/k8s-extensions.json":        ShapeResources,
		"insecure/arm/template.json":             ShapeARM,
		"insecure/terraform/plan.json":           ShapeTerraform,
		"insecure/az/diagnostic-settings.json":   ShapeDiagnostics,
		"insecure/az/aks-show.json":              ShapeAzCLI,
		"secure/arm/azuredeploy.parameters.json": "",
	}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			data := readFile(t, filepath.Join(examples, file))
			in, err := Parse(file, data)
			if want == "" {
				if err == nil || Sniff(data) {
					t.Fatal("a parameters file is not an input")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if in.Shape != want {
				t.Errorf("shape %s, want %s", in.Shape, want)
			}
			if got := Sniff(data); got != (in.Objects() > 0) {
				t.Errorf("Sniff = %v", got)
			}
		})
	}
}

func TestRESTResource(t *testing.T) {
	// The REST API's spelling, nested under properties, as `az rest` or a
	// GET returns it; and a list of them.
	cluster := loadJSON(t, examples+"/secure/az/aks-show.json").(doc)
	props := doc{}
	for k, v := range cluster {
		switch k {
		case "id", "name", "type", "location", "tags", "sku", "identity":
		default:
			props[k] = v
		}
	}
	props["enableRBAC"] = props["enableRbac"]
	delete(props, "enableRbac")
	put(props, true, "aadProfile", "enableAzureRBAC")
	del(props, "aadProfile", "enableAzureRbac")
	rest := doc{"id": cluster["id"], "name": cluster["name"], "type": "Microsoft.ContainerService/ManagedClusters",
		"location": cluster["location"], "properties": props}
	for _, v := range []any{rest, doc{"value": []any{rest}}} {
		in := parseDoc(t, "rest.json", v)
		if in.Shape != ShapeREST || len(in.Clusters) != 1 {
			t.Fatalf("shape %s, %d clusters", in.Shape, len(in.Clusters))
		}
		inputs := append([]*Input{in}, shapeInputs(t, examples+"/secure/az")[1:]...)
		for id, st := range statuses(t, workshopConfig(t), inputs...) {
			if st != Pass {
				t.Errorf("REST shape: %s is %s", id, st)
			}
		}
	}
}

// TestPartialDocument: a document that says little never passes a check;
// what it cannot decide is not assessed, naming the field.
func TestPartialDocument(t *testing.T) {
	docs := map[string]string{
		"az":   `{"type": "Microsoft.ContainerService/ManagedClusters", "name": "aks", "location": "eastus"}`,
		"rest": `{"type": "Microsoft.ContainerService/managedClusters", "name": "aks", "location": "eastus", "properties": {}}`,
		"arm":  `{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0", "resources": [{"type": "Microsoft.ContainerService/managedClusters", "apiVersion": "2025-07-01", "name": "aks", "location": "[resourceGroup().location]", "properties": {"dnsPrefix": "aks"}}]}`,
		"tf":   `{"format_version": "1.2", "terraform_version": "1.13.4", "planned_values": {"root_module": {"resources": [{"address": "azurerm_kubernetes_cluster.aks", "mode": "managed", "type": "azurerm_kubernetes_cluster", "name": "aks", "values": {"name": "aks"}}]}}}`,
	}
	for name, data := range docs {
		t.Run(name, func(t *testing.T) {
			in, err := Parse(name+".json", []byte(data))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range Assess([]*Input{in}, workshopConfig(t)) {
				switch r.Verdict.Status {
				case Pass:
					if r.Check.ID == idRegions && name != "arm" && name != "tf" {
						continue // the location is given
					}
					t.Errorf("%s passed on a partial document", r.Check.ID)
				case Unknown:
					if r.Verdict.Reason == "" {
						t.Errorf("%s: not assessed without a reason", r.Check.ID)
					}
				}
			}
			_, cov := Evaluate([]*Input{in}, workshopConfig(t))
			if reason := cov.NotAssessed[idLocalAccounts]; name != "rest" && name != "arm" && !strings.Contains(reason, "disableLocalAccounts is missing") && !strings.Contains(reason, "local_account_disabled is missing") {
				t.Errorf("local accounts reason %q does not name the field", reason)
			}
		})
	}
}

func TestSniff(t *testing.T) {
	for _, s := range []string{
		`{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"id": "/subscriptions/x/resourceGroups/y"}}`,
		`apiVersion: v1`,
		``,
		`[]`,
		`{"type": "Microsoft.ContainerService/managedClusters"`,
		`{"kind": "List", "items": [{"type": "Microsoft.ContainerService/managedClusters/agentPools", "name": "x"}]}`,
	} {
		if Sniff([]byte(s)) {
			t.Errorf("Sniff(%q) = true", s)
		}
	}
	if !Sniff([]byte(` [{"type": "microsoft.containerservice/managedclusters", "name": "a"}]`)) {
		t.Error("Sniff missed az aks list output")
	}
}

func TestEmptyList(t *testing.T) {
	in, err := Parse("empty.json", []byte("[]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if in.Objects() != 0 {
		t.Errorf("%d objects", in.Objects())
	}
}

func TestJSONTree(t *testing.T) {
	n, err := parseJSON("t.json", []byte("{\n  \"A\": {\"b\": [1, \"x\\u00e9\", true, null]},\n  \"ünï\": \"\\\"q\\\"\"\n}"))
	if err != nil {
		t.Fatal(err)
	}
	b := n.get("a").get("B")
	if b == nil || b.line != 2 || len(b.elems()) != 4 {
		t.Fatalf("case-insensitive lookup or line: %+v", b)
	}
	if s, _ := b.elems()[1].text(); s != "xé" {
		t.Errorf("escape: %q", s)
	}
	if s, _ := n.get("ÜNÏ").text(); s != `"q"` || n.get("ünï").line != 3 {
		t.Errorf("unicode key: %q", s)
	}
	if n.keyOf("a") != "A" {
		t.Errorf("keyOf %q", n.keyOf("a"))
	}
}
