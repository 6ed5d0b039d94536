package posture

import (
	"strings"
	"testing"
)

const secureAKS = "module.aks.azurerm_kubernetes_cluster.this"

// tfValues returns the planned values of a resource of a plan.
func tfValues(t *testing.T, plan doc, addr string) doc {
	t.Helper()
	var find func(m doc) doc
	find = func(m doc) doc {
		for _, r := range m["resources"].([]any) {
			if r.(doc)["address"] == addr {
				return r.(doc)["values"].(doc)
			}
		}
		if kids, ok := m["child_modules"].([]any); ok {
			for _, k := range kids {
				if v := find(k.(doc)); v != nil {
					return v
				}
			}
		}
		return nil
	}
	v := find(at(plan, "planned_values", "root_module").(doc))
	if v == nil {
		t.Fatalf("no %s in the plan", addr)
	}
	return v
}

// tfUnknown returns the after_unknown of a resource change.
func tfUnknown(t *testing.T, plan doc, addr string) doc {
	t.Helper()
	for _, rc := range plan["resource_changes"].([]any) {
		if rc.(doc)["address"] == addr {
			return at(rc, "change", "after_unknown").(doc)
		}
	}
	t.Fatalf("no change for %s", addr)
	return nil
}

func TestTerraformPlan(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(t *testing.T, plan doc)
		id     string
		want   Status
		text   string
	}{
		{name: "fixture", id: idAAD, want: Pass},
		{name: "known after apply", id: idLocalAccounts, want: Unknown, text: "local_account_disabled is known only after apply",
			mutate: func(t *testing.T, p doc) {
				delete(tfValues(t, p, secureAKS), "local_account_disabled")
				tfUnknown(t, p, secureAKS)["local_account_disabled"] = true
			}},
		{name: "missing attribute", id: idLocalAccounts, want: Unknown, text: "local_account_disabled is missing",
			mutate: func(t *testing.T, p doc) { delete(tfValues(t, p, secureAKS), "local_account_disabled") }},
		{name: "null attribute", id: idLocalAccounts, want: Fail, text: "local_account_disabled is not set (default false)",
			mutate: func(t *testing.T, p doc) { tfValues(t, p, secureAKS)["local_account_disabled"] = nil }},
		{name: "empty block", id: idDefender, want: Fail, text: "microsoft_defender is not set (default false)",
			mutate: func(t *testing.T, p doc) { tfValues(t, p, secureAKS)["microsoft_defender"] = []any{} }},
		{name: "azurerm 3 upgrade channel", id: idUpgradeChannel, want: Pass,
			mutate: func(t *testing.T, p doc) {
				v := tfValues(t, p, secureAKS)
				delete(v, "automatic_upgrade_channel")
				v["automatic_channel_upgrade"] = "stable"
			}},
		{name: "no upgrade channel attribute", id: idUpgradeChannel, want: Unknown, text: "automatic_upgrade_channel is missing",
			mutate: func(t *testing.T, p doc) { delete(tfValues(t, p, secureAKS), "automatic_upgrade_channel") }},
		{name: "azurerm 3 node public ip", id: idNodePublicIP, want: Fail, text: "default_node_pool[0].enable_node_public_ip is true",
			mutate: func(t *testing.T, p doc) {
				pool := at(tfValues(t, p, secureAKS), "default_node_pool", "0").(doc)
				delete(pool, "node_public_ip_enabled")
				pool["enable_node_public_ip"] = true
			}},
		{name: "separate node pool", id: idNodePublicIP, want: Fail, text: "agent pool user",
			mutate: func(t *testing.T, p doc) {
				tfValues(t, p, "module.aks.azurerm_kubernetes_cluster_node_pool.user")["node_public_ip_enabled"] = true
			}},
		{name: "azurerm 3 authorized ranges", id: idAPIAccess, want: Pass,
			mutate: func(t *testing.T, p doc) {
				v := tfValues(t, p, secureAKS)
				v["private_cluster_enabled"] = false
				v["api_server_authorized_ip_ranges"] = []any{"203.0.113.0/24"}
			}},
		{name: "public, open", id: idAPIAccess, want: Fail, text: "accepts every source address",
			mutate: func(t *testing.T, p doc) { tfValues(t, p, secureAKS)["private_cluster_enabled"] = false }},
		{name: "authorized ranges include everything", id: idAPIAccess, want: Fail, text: "0.0.0.0/0",
			mutate: func(t *testing.T, p doc) {
				v := tfValues(t, p, secureAKS)
				v["private_cluster_enabled"] = false
				v["api_server_access_profile"] = []any{doc{"authorized_ip_ranges": []any{"0.0.0.0/0"}}}
			}},
		{name: "azurerm 3 legacy aad", id: idAAD, want: Fail, text: "azure_active_directory_role_based_access_control[0].managed is false",
			mutate: func(t *testing.T, p doc) {
				at(tfValues(t, p, secureAKS), "azure_active_directory_role_based_access_control", "0").(doc)["managed"] = false
			}},
		{name: "dashboard absent from schema", id: idDashboard, want: Pass},
		{name: "azurerm 2 dashboard", id: idDashboard, want: Fail, text: "kube_dashboard[0].enabled is true",
			mutate: func(t *testing.T, p doc) {
				tfValues(t, p, secureAKS)["addon_profile"] = []any{doc{"kube_dashboard": []any{doc{"enabled": true}}}}
			}},
		{name: "public ip elsewhere", id: idPublicIPs, want: Fail, text: "public IP appgw-pip is in resource group contosoimg-edge-rg",
			mutate: func(t *testing.T, p doc) {
				rm := at(p, "planned_values", "root_module").(doc)
				rm["resources"] = append(rm["resources"].([]any), doc{
					"address": "azurerm_public_ip.appgw", "mode": "managed", "type": "azurerm_public_ip", "name": "appgw",
					"values": doc{"name": "appgw-pip", "location": "eastus", "resource_group_name": "contosoimg-edge-rg", "allocation_method": "Static", "sku": "Standard"},
				})
			}},
		{name: "data sources are not resources", id: idPublicIPs, want: Pass,
			mutate: func(t *testing.T, p doc) {
				rm := at(p, "planned_values", "root_module").(doc)
				rm["resources"] = append(rm["resources"].([]any), doc{
					"address": "data.azurerm_public_ip.hub", "mode": "data", "type": "azurerm_public_ip", "name": "hub",
					"values": doc{"name": "hub-pip", "location": "eastus", "resource_group_name": "hub-rg"},
				})
			}},
		{name: "resource in another region", id: idRegions, want: Fail, text: "Microsoft.KeyVault/vaults contosoimg-kv is in westus2",
			mutate: func(t *testing.T, p doc) { tfValues(t, p, "azurerm_key_vault.kv")["location"] = "westus2" }},
		{name: "storage destination known after apply", id: idAuditLogs, want: Pass},
		{name: "audit logs not to storage", id: idAuditLogs, want: Fail, text: "aks-audit-to-storage sends [guard, kube-audit-admin]",
			mutate: func(t *testing.T, p doc) {
				v := tfValues(t, p, "module.aks.azurerm_monitor_diagnostic_setting.audit")
				v["enabled_log"] = []any{doc{"category": "guard"}, doc{"category": "kube-audit-admin"}}
				v["storage_account_id"] = nil
				delete(tfUnknown(t, p, "module.aks.azurerm_monitor_diagnostic_setting.audit"), "storage_account_id")
			}},
		{name: "flux extension linked by reference", id: idGitOps, want: Pass},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := loadJSON(t, examples+"/secure/terraform/plan.json").(doc)
			if tc.mutate != nil {
				tc.mutate(t, plan)
			}
			in := parseDoc(t, "plan.json", plan)
			if in.Shape != ShapeTerraform || len(in.Clusters) != 1 {
				t.Fatalf("shape %s, %d clusters", in.Shape, len(in.Clusters))
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

func TestTerraformStateAndChangesOnly(t *testing.T) {
	plan := loadJSON(t, examples+"/insecure/terraform/plan.json").(doc)
	want := statuses(t, workshopConfig(t), parseDoc(t, "plan.json", plan))

	// terraform show -json of a state: "values" instead of planned_values.
	state := doc{"format_version": "1.0", "terraform_version": "1.13.4", "values": plan["planned_values"]}
	if got := statuses(t, workshopConfig(t), parseDoc(t, "state.json", state)); !sameStatuses(got, want, idAuditLogs) {
		t.Errorf("state: %v, plan: %v", got, want)
	}
	// Only resource_changes (planned_values left out).
	changes := doc{"format_version": "1.2", "terraform_version": "1.13.4", "resource_changes": plan["resource_changes"], "configuration": plan["configuration"]}
	if got := statuses(t, workshopConfig(t), parseDoc(t, "changes.json", changes)); !sameStatuses(got, want) {
		t.Errorf("changes only: %v, plan: %v", got, want)
	}
}

// sameStatuses compares verdicts; a state has no configuration to link
// diagnostic settings with, so except may differ.
func sameStatuses(a, b map[string]Status, except ...string) bool {
	skip := map[string]bool{}
	for _, e := range except {
		skip[e] = true
	}
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !skip[k] && b[k] != v {
			return false
		}
	}
	return true
}
