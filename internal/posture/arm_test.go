package posture

import (
	"reflect"
	"strings"
	"testing"
)

func TestARMExpressions(t *testing.T) {
	tmpl, err := parseJSON("t.json", []byte(`{
	  "parameters": {
	    "location": {"type": "string", "defaultValue": "eastus"},
	    "prefix": {"type": "string", "defaultValue": "contoso"},
	    "env": {"type": "string", "defaultValue": "prod"},
	    "flag": {"type": "bool", "defaultValue": false},
	    "noDefault": {"type": "string"},
	    "derived": {"type": "string", "defaultValue": "[format('{0}-{1}', parameters('prefix'), parameters('env'))]"},
	    "rgLocation": {"type": "string", "defaultValue": "[resourceGroup().location]"},
	    "obj": {"type": "object", "defaultValue": {"nested": {"value": 42}}}
	  },
	  "variables": {
	    "clusterName": "[format('{0}-aks', parameters('prefix'))]",
	    "list": ["a", "[concat('b', 'c')]"],
	    "loop": "[variables('loop')]"
	  }
	}`))
	if err != nil {
		t.Fatal(err)
	}
	env := newARMEnv(tmpl, Parameters{"env": "prod"})
	cases := []struct {
		expr string
		want any // a string containing "unknown:" means an unknown whose reason contains the rest
	}{
		{"[parameters('location')]", "eastus"},
		{"[parameters('LOCATION')]", "eastus"},
		{"[variables('clusterName')]", "contoso-aks"},
		{"[parameters('derived')]", "contoso-prod"},
		{"[concat('a', 'b', parameters('prefix'))]", "ab" + "contoso"},
		{"[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet', 'snet')]",
			"/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/snet"},
		{"[resourceId('other-rg', 'Microsoft.Storage/storageAccounts', 'sa')]",
			"/subscriptions/{subscriptionId}/resourceGroups/other-rg/providers/Microsoft.Storage/storageAccounts/sa"},
		{"[resourceGroup().location]", "unknown:resourceGroup().location is decided at deployment"},
		{"[parameters('rgLocation')]", "unknown:resourceGroup().location"},
		{"[parameters('noDefault')]", "unknown:parameter 'noDefault' has no value (give it with --parameters)"},
		{"[parameters('nope')]", "unknown:parameter 'nope' is not defined"},
		{"[if(equals(parameters('env'), 'prod'), 'calico', 'none')]", "calico"},
		{"[if(parameters('flag'), 'a', 'b')]", "b"},
		{"[not(parameters('flag'))]", true},
		{"[and(true(), not(false()))]", true},
		{"[toLower('EastUS')]", "eastus"},
		{"[[literal]", "[literal]"},
		{"plain", "plain"},
		{"[uniqueString(resourceGroup().id)]", "unknown:uniquestring() is decided at deployment"},
		{"[reference('x').outputs]", "unknown:reference() is decided at deployment"},
		{"[parameters('obj').nested.value]", float64(42)},
		{"[parameters('obj')['nested']['value']]", float64(42)},
		{"[variables('list')[1]]", "bc"},
		{"[variables('list')[9223372036854775807]]", "unknown:index out of range"},
		{"[variables('list')[-1]]", "unknown:index out of range"},
		{"[length(variables('list'))]", float64(2)},
		{"[bool('true')]", true},
		{"[json('null')]", nil},
		{"[coalesce(json('null'), 'x')]", "x"},
		{"[string(parameters('flag'))]", "false"},
		{"[contains(createArray('a', 'b'), 'b')]", true},
		{"[empty('')]", true},
		{"[concat('a']", "unknown:cannot parse"},
		{"[variables('loop')]", "unknown:refers to itself"},
		{"[frobnicate('x')]", "unknown:frobnicate() is not evaluated"},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			got := env.evalString(tc.expr)
			if s, ok := tc.want.(string); ok && strings.HasPrefix(s, "unknown:") {
				u, isU := got.(unknown)
				if !isU {
					t.Fatalf("got %#v, want unknown", got)
				}
				if !strings.Contains(u.why, strings.TrimPrefix(s, "unknown:")) {
					t.Fatalf("reason %q does not contain %q", u.why, strings.TrimPrefix(s, "unknown:"))
				}
				return
			}
			if es, ok := got.(evaluatedString); ok {
				got = string(es)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// armCluster returns the secure template and its managedClusters
// resource, for mutation.
func armCluster(t *testing.T) (doc, doc) {
	t.Helper()
	tmpl := loadJSON(t, examples+"/secure/arm/azuredeploy.json").(doc)
	for _, r := range tmpl["resources"].([]any) {
		if r.(doc)["type"] == clusterType {
			return tmpl, r.(doc)
		}
	}
	t.Fatal("no cluster in the template")
	return nil, nil
}

func TestARMTemplate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(tmpl, cluster doc)
		opts   []Option
		id     string
		want   Status
		text   string
	}{
		{name: "fixture", id: idLocalAccounts, want: Pass},
		{name: "resource group location", id: idRegions, want: Unknown, text: "resourceGroup().location is decided at deployment",
			mutate: func(_, c doc) { c["location"] = "[resourceGroup().location]" }},
		{name: "parameter without a value", id: idLocalAccounts, want: Unknown, text: "give it with --parameters",
			mutate: func(tmpl, c doc) {
				put(tmpl, map[string]any{"type": "bool"}, "parameters", "disableLocal")
				put(c, "[parameters('disableLocal')]", "properties", "disableLocalAccounts")
			}},
		{name: "parameter given", id: idLocalAccounts, want: Pass, opts: []Option{WithParameters(Parameters{"disablelocal": true})},
			mutate: func(tmpl, c doc) {
				put(tmpl, map[string]any{"type": "bool"}, "parameters", "disableLocal")
				put(c, "[parameters('disableLocal')]", "properties", "disableLocalAccounts")
			}},
		{name: "parameter given false", id: idLocalAccounts, want: Fail, opts: []Option{WithParameters(Parameters{"disableLocal": false})},
			mutate: func(tmpl, c doc) {
				put(tmpl, map[string]any{"type": "bool"}, "parameters", "disableLocal")
				put(c, "[parameters('disableLocal')]", "properties", "disableLocalAccounts")
			}},
		{name: "absent, insecure default", id: idLocalAccounts, want: Fail, text: "properties.disableLocalAccounts is not set (default false)",
			mutate: func(_, c doc) { del(c, "properties", "disableLocalAccounts") }},
		{name: "absent, secure default not assumed", id: idRBAC, want: Unknown, text: "properties.enableRBAC is missing",
			mutate: func(_, c doc) { del(c, "properties", "enableRBAC") }},
		{name: "absent profile", id: idDefender, want: Fail, text: "not set (default false)",
			mutate: func(_, c doc) { del(c, "properties", "securityProfile") }},
		{name: "no properties", id: idLocalAccounts, want: Unknown, text: "no properties object",
			mutate: func(_, c doc) { delete(c, "properties") }},
		{name: "properties from a variable", id: idLocalAccounts, want: Pass,
			mutate: func(tmpl, c doc) {
				put(tmpl, c["properties"], "variables", "aksProperties")
				c["properties"] = "[variables('aksProperties')]"
			}},
		{name: "unresolvable properties", id: idLocalAccounts, want: Unknown, text: "reference() is decided at deployment",
			mutate: func(_, c doc) { c["properties"] = "[reference('other').properties]" }},
		{name: "subnet from resourceId", id: idSubnet, want: Pass},
		{name: "subnet from reference()", id: idSubnet, want: Unknown, text: "reference() is decided at deployment",
			mutate: func(_, c doc) {
				put(c, "[reference('vnet').subnets[0].id]", "properties", "agentPoolProfiles", "0", "vnetSubnetID")
			}},
		{name: "separate agent pool", id: idNodePublicIP, want: Fail, text: "agent pool user",
			mutate: func(tmpl, _ doc) {
				for _, r := range tmpl["resources"].([]any) {
					if r.(doc)["type"] == "Microsoft.ContainerService/managedClusters/agentPools" {
						put(r, true, "properties", "enableNodePublicIP")
					}
				}
			}},
		{name: "public ip in template", id: idPublicIPs, want: Fail, text: "public IP appgw-pip exists",
			mutate: func(tmpl, _ doc) {
				tmpl["resources"] = append(tmpl["resources"].([]any), doc{
					"type": "Microsoft.Network/publicIPAddresses", "apiVersion": "2024-05-01", "name": "appgw-pip",
					"location": "[parameters('location')]", "sku": doc{"name": "Standard"},
				})
			}},
		{name: "conditional public ip not deployed", id: idPublicIPs, want: Pass,
			mutate: func(tmpl, _ doc) {
				tmpl["resources"] = append(tmpl["resources"].([]any), doc{
					"condition": "[equals(parameters('location'), 'westus')]",
					"type":      "Microsoft.Network/publicIPAddresses", "apiVersion": "2024-05-01", "name": "appgw-pip",
					"location": "[parameters('location')]",
				})
			}},
		{name: "existing resource is not deployed", id: idRegions, want: Pass,
			mutate: func(tmpl, _ doc) {
				tmpl["resources"] = append(tmpl["resources"].([]any), doc{
					"existing": true, "type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-05-01",
					"name": "elsewhere", "location": "westus",
				})
			}},
		{name: "resource in another region", id: idRegions, want: Fail, text: "Microsoft.Storage/storageAccounts contosoimgaudit is in westus",
			mutate: func(tmpl, _ doc) {
				for _, r := range tmpl["resources"].([]any) {
					if r.(doc)["type"] == "Microsoft.Storage/storageAccounts" {
						r.(doc)["location"] = "westus"
					}
				}
			}},
		{name: "diagnostic settings removed", id: idAuditLogs, want: Unknown, text: "no diagnostic setting of the cluster",
			mutate: func(tmpl, _ doc) {
				var keep []any
				for _, r := range tmpl["resources"].([]any) {
					if r.(doc)["type"] != "Microsoft.Insights/diagnosticSettings" {
						keep = append(keep, r)
					}
				}
				tmpl["resources"] = keep
			}},
		{name: "audit to workspace", id: idAuditLogs, want: Fail, text: "aks-audit-to-storage sends [kube-audit, kube-audit-admin, guard] to Log Analytics",
			mutate: func(tmpl, _ doc) {
				for _, r := range tmpl["resources"].([]any) {
					if r.(doc)["name"] == "aks-audit-to-storage" {
						p := r.(doc)["properties"].(doc)
						delete(p, "storageAccountId")
						p["workspaceId"] = "[variables('workspaceId')]"
					}
				}
			}},
		{name: "flux removed", id: idGitOps, want: Unknown, text: "no Flux extension",
			mutate: func(tmpl, _ doc) {
				var keep []any
				for _, r := range tmpl["resources"].([]any) {
					if !strings.HasPrefix(r.(doc)["type"].(string), "Microsoft.KubernetesConfiguration/") {
						keep = append(keep, r)
					}
				}
				tmpl["resources"] = keep
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, cluster := armCluster(t)
			if tc.mutate != nil {
				tc.mutate(tmpl, cluster)
			}
			in := parseDoc(t, "azuredeploy.json", tmpl, tc.opts...)
			if in.Shape != ShapeARM {
				t.Fatalf("shape %s", in.Shape)
			}
			v := verdictOf(t, tc.id, workshopConfig(t), in)
			if v.Status != tc.want {
				t.Fatalf("got %s (%s %+v), want %s", v.Status, v.Reason, v.Failures, tc.want)
			}
			text := v.Reason
			for _, f := range v.Failures {
				text += "\n" + f.Message
			}
			if !strings.Contains(text, tc.text) {
				t.Errorf("%q does not contain %q", text, tc.text)
			}
		})
	}
}

func TestARMParametersFile(t *testing.T) {
	params, err := ParseParameters("p.json", []byte(`{
	  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
	  "contentVersion": "1.0.0.0",
	  "parameters": {
	    "location": {"value": "westus"},
	    "secret": {"reference": {"keyVault": {"id": "/subscriptions/x/resourceGroups/y/providers/Microsoft.KeyVault/vaults/z"}, "secretName": "s"}}
	  }
	}`))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, _ := armCluster(t)
	in := parseDoc(t, "azuredeploy.json", tmpl, WithParameters(params))
	v := verdictOf(t, idRegions, workshopConfig(t), in)
	if v.Status != Fail || !strings.Contains(v.Failures[0].Message, "westus") {
		t.Fatalf("the parameters file's location was not used: %+v", v)
	}
	if _, ok := params["secret"].(unknown); !ok {
		t.Errorf("a Key Vault reference must stay unknown, got %#v", params["secret"])
	}
	if _, err := ParseParameters("p.json", []byte(`{"parameters": {"x": {}}}`)); err == nil {
		t.Error("a parameter without value or reference was accepted")
	}
	if _, err := ParseParameters("p.json", []byte(`{"resources": []}`)); err == nil {
		t.Error("a template was accepted as a parameters file")
	}
}

func TestARMLanguageVersion2AndNested(t *testing.T) {
	_, cluster := armCluster(t)
	// Bicep output: symbolic resource names, and a module compiled into a
	// nested deployment with its own parameters.
	inner := doc{
		"$schema":        "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
		"contentVersion": "1.0.0.0",
		"parameters":     doc{"clusterName": doc{"type": "string"}, "location": doc{"type": "string"}},
		"variables":      cluster["__unused"],
		"resources":      doc{"aks": cluster},
	}
	cluster["name"] = "[parameters('clusterName')]"
	cluster["location"] = "[parameters('location')]"
	props := cluster["properties"].(doc)
	// The inner template cannot see the outer variables.
	put(props, "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/aks", "agentPoolProfiles", "0", "vnetSubnetID")
	put(props, "eastus", "dnsPrefix")
	delete(props, "addonProfiles")
	delete(props["securityProfile"].(doc), "defender")
	put(props["securityProfile"].(doc), "/keys/x", "azureKeyVaultKms", "keyId")
	put(props, []any{"[parameters('clusterName')]"}, "aadProfile", "adminGroupObjectIDs")
	outer := doc{
		"$schema":         "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
		"languageVersion": "2.0",
		"contentVersion":  "1.0.0.0",
		"parameters":      doc{"location": doc{"type": "string", "defaultValue": "eastus2"}},
		"resources": doc{
			"aksModule": doc{
				"type":       "Microsoft.Resources/deployments",
				"apiVersion": "2022-09-01",
				"name":       "aks",
				"properties": doc{
					"expressionEvaluationOptions": doc{"scope": "inner"},
					"mode":                        "Incremental",
					"parameters": doc{
						"clusterName": doc{"value": "bicep-aks"},
						"location":    doc{"value": "[parameters('location')]"},
					},
					"template": inner,
				},
			},
		},
	}
	in := parseDoc(t, "main.json", outer)
	if len(in.Clusters) != 1 {
		t.Fatalf("%d clusters", len(in.Clusters))
	}
	c := in.Clusters[0]
	if c.Name != "bicep-aks" {
		t.Errorf("name %q", c.Name)
	}
	if loc, _ := c.Location.Get(); loc != "eastus2" {
		t.Errorf("location %q (%s)", loc, c.Location.Why())
	}
	if v, ok := c.LocalAccountsDisabled.Get(); !ok || !v {
		t.Errorf("disableLocalAccounts: %s", c.LocalAccountsDisabled.Describe())
	}
	if v, _ := c.Defender.Get(); v {
		t.Error("defender should be off")
	}
}
