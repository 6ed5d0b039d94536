package posture

import (
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/config"
)

// checkCase mutates the secure cluster's az CLI fixtures and expects a
// verdict of one check.
type checkCase struct {
	name string
	// cluster mutates `az aks show`; diag and ext replace the
	// diagnostic-settings and k8s-extension lists (nil: keep, "none":
	// leave the file out).
	cluster func(d doc)
	diag    any
	ext     any
	extra   []any // more az JSON documents (az resource list)
	cfg     func(c *config.Config)
	want    Status
	// text must appear in the failure messages or the reason.
	text string
}

func runCheckCases(t *testing.T, id string, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cluster := loadJSON(t, examples+"/secure/az/aks-show.json").(doc)
			if tc.cluster != nil {
				tc.cluster(cluster)
			}
			inputs := []*Input{parseDoc(t, "aks-show.json", cluster)}
			for name, v := range map[string]any{
				"diagnostic-settings.json": pick(t, tc.diag, examples+"/secure/az/diagnostic-settings.json"),
				"k8s-extensions.json":      pick(t, tc.ext, examples+"/secure/az/k8s-extensions.json"),
			} {
				if v != nil {
					inputs = append(inputs, parseDoc(t, name, v))
				}
			}
			for i, x := range tc.extra {
				inputs = append(inputs, parseDoc(t, "extra"+string(rune('0'+i))+".json", x))
			}
			cfg := workshopConfig(t)
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			v := verdictOf(t, id, cfg, inputs...)
			if v.Status != tc.want {
				t.Fatalf("%s: got %s (%s %+v), want %s", id, v.Status, v.Reason, v.Failures, tc.want)
			}
			text := v.Reason
			for _, f := range v.Failures {
				text += "\n" + f.Message
				if f.Line <= 0 && f.Object == nil {
					t.Errorf("failure without a line: %+v", f)
				}
			}
			if tc.want != Pass && v.Reason == "" && len(v.Failures) == 0 {
				t.Errorf("a %s verdict must say why", tc.want)
			}
			if !strings.Contains(text, tc.text) {
				t.Errorf("verdict text %q does not contain %q", text, tc.text)
			}
		})
	}
}

func pick(t *testing.T, v any, fixture string) any {
	switch v {
	case nil:
		return loadJSON(t, fixture)
	case "none":
		return nil
	}
	return v
}

func TestAAD(t *testing.T) {
	runCheckCases(t, idAAD, []checkCase{
		{name: "managed", want: Pass},
		{name: "no aad profile", cluster: func(d doc) { d["aadProfile"] = nil }, want: Fail, text: "aadProfile.managed is not set (default false)"},
		{name: "legacy aad", cluster: func(d doc) { put(d, false, "aadProfile", "managed") }, want: Fail, text: "aadProfile.managed is false"},
		{name: "missing", cluster: func(d doc) { del(d, "aadProfile") }, want: Unknown, text: "aadProfile.managed is missing"},
	})
}

func TestAzureRBAC(t *testing.T) {
	runCheckCases(t, idAzureRBAC, []checkCase{
		{name: "on", want: Pass},
		{name: "off", cluster: func(d doc) { put(d, false, "aadProfile", "enableAzureRbac") }, want: Fail, text: "aadProfile.enableAzureRbac is false"},
		{name: "rest casing", cluster: func(d doc) {
			del(d, "aadProfile", "enableAzureRbac")
			put(d, false, "aadProfile", "enableAzureRBAC")
		}, want: Fail, text: "enableAzureRBAC is false"},
		{name: "missing", cluster: func(d doc) { del(d, "aadProfile", "enableAzureRbac") }, want: Unknown, text: "aadProfile.enableAzureRbac is missing"},
	})
}

func TestLocalAccounts(t *testing.T) {
	runCheckCases(t, idLocalAccounts, []checkCase{
		{name: "disabled", want: Pass},
		{name: "enabled", cluster: func(d doc) { d["disableLocalAccounts"] = false }, want: Fail, text: "disableLocalAccounts is false"},
		{name: "null", cluster: func(d doc) { d["disableLocalAccounts"] = nil }, want: Fail, text: "not set (default false)"},
		{name: "missing", cluster: func(d doc) { del(d, "disableLocalAccounts") }, want: Unknown, text: "disableLocalAccounts is missing"},
	})
}

func TestKubernetesRBAC(t *testing.T) {
	runCheckCases(t, idRBAC, []checkCase{
		{name: "on", want: Pass},
		{name: "off", cluster: func(d doc) { d["enableRbac"] = false }, want: Fail, text: "enableRbac is false"},
		{name: "missing", cluster: func(d doc) { del(d, "enableRbac") }, want: Unknown, text: "enableRbac is missing"},
		{name: "string", cluster: func(d doc) { d["enableRbac"] = 1 }, want: Unknown, text: "not a boolean"},
	})
}

func diagSetting(clusterID, name string, storage any, logs ...map[string]any) map[string]any {
	var ls []any
	for _, l := range logs {
		ls = append(ls, l)
	}
	return map[string]any{
		"id":               clusterID + "/providers/microsoft.insights/diagnosticSettings/" + name,
		"name":             name,
		"type":             "Microsoft.Insights/diagnosticSettings",
		"logs":             ls,
		"storageAccountId": storage,
		"workspaceId":      nil,
	}
}

const secureID = "/subscriptions/3b2f8c5e-6a1d-4c7e-9f0a-2d4b6e8c1a3f/resourcegroups/contosoimg-secure-rg/providers/Microsoft.ContainerService/managedClusters/contosoimg-aks"
const storageID = "/subscriptions/3b2f8c5e-6a1d-4c7e-9f0a-2d4b6e8c1a3f/resourceGroups/contosoimg-secure-rg/providers/Microsoft.Storage/storageAccounts/contosoimgaudit"

func TestAuditLogs(t *testing.T) {
	cat := func(c string, on bool) map[string]any {
		return map[string]any{"category": c, "categoryGroup": nil, "enabled": on}
	}
	group := func(g string) map[string]any {
		return map[string]any{"category": nil, "categoryGroup": g, "enabled": true}
	}
	runCheckCases(t, idAuditLogs, []checkCase{
		{name: "kube-audit to storage", want: Pass},
		{name: "audit group to storage", diag: []any{diagSetting(secureID, "all", storageID, group("audit"))}, want: Pass},
		{name: "allLogs to storage", diag: []any{diagSetting(secureID, "all", storageID, group("allLogs"))}, want: Pass},
		{name: "kube-audit-admin to storage", diag: []any{diagSetting(secureID, "a", storageID, cat("kube-audit-admin", true))}, want: Pass},
		{name: "rest list shape", diag: map[string]any{"value": []any{map[string]any{
			"id": secureID + "/providers/microsoft.insights/diagnosticSettings/a", "name": "a", "type": "Microsoft.Insights/diagnosticSettings",
			"properties": map[string]any{"storageAccountId": storageID, "logs": []any{cat("kube-audit", true)}}}}}, want: Pass},
		{name: "only log analytics", diag: loadJSON(t, examples+"/insecure/az/diagnostic-settings.json"), want: Unknown,
			text: "no diagnostic setting of the cluster"},
		{name: "audit disabled", diag: []any{diagSetting(secureID, "a", storageID, cat("kube-audit", false), cat("guard", true))}, want: Fail,
			text: "a sends [guard] to a storage account"},
		{name: "audit to log analytics", diag: []any{diagSetting(secureID, "la", nil, cat("kube-audit", true))}, want: Fail,
			text: "la sends [kube-audit] to no storage account"},
		{name: "no diagnostic settings", diag: "none", want: Unknown, text: "az monitor diagnostic-settings list"},
		{name: "log analytics only", diag: []any{func() map[string]any {
			d := diagSetting(secureID, "insights", nil, cat("kube-apiserver", true), cat("kube-audit", true))
			d["workspaceId"] = "/subscriptions/3b2f8c5e-6a1d-4c7e-9f0a-2d4b6e8c1a3f/resourceGroups/contosoimg-secure-rg/providers/Microsoft.OperationalInsights/workspaces/contosoimg-law"
			return d
		}()}, want: Fail, text: "insights sends [kube-apiserver, kube-audit] to Log Analytics"},
		{name: "one setting shown, not the list", diag: diagSetting(secureID, "la", nil, cat("kube-apiserver", true)), want: Unknown,
			text: "not all in the inputs"},
		{name: "storage unresolved", diag: []any{diagSetting(secureID, "a", 42, cat("kube-audit", true))}, want: Unknown, text: "storageAccountId"},
	})
}

func TestGitOps(t *testing.T) {
	dapr := []any{map[string]any{
		"id":            secureID + "/providers/Microsoft.KubernetesConfiguration/extensions/dapr",
		"name":          "dapr",
		"type":          "Microsoft.KubernetesConfiguration/extensions",
		"extensionType": "microsoft.dapr",
	}}
	flux := []any{map[string]any{
		"id":   secureID + "/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/cluster-config",
		"name": "cluster-config",
		"type": "Microsoft.KubernetesConfiguration/fluxConfigurations",
	}}
	runCheckCases(t, idGitOps, []checkCase{
		{name: "flux extension", want: Pass},
		{name: "flux configuration", ext: flux, want: Pass},
		{name: "other extension only", ext: dapr, want: Fail, text: "dapr (microsoft.dapr)"},
		{name: "no extension list", ext: "none", want: Unknown, text: "az k8s-extension list"},
		{name: "empty extension list", ext: []any{}, want: Unknown, text: "no Flux extension"},
	})
}

func TestAPIAccess(t *testing.T) {
	public := func(ranges any) func(d doc) {
		return func(d doc) {
			put(d, false, "apiServerAccessProfile", "enablePrivateCluster")
			put(d, ranges, "apiServerAccessProfile", "authorizedIpRanges")
		}
	}
	runCheckCases(t, idAPIAccess, []checkCase{
		{name: "private", want: Pass},
		{name: "authorized ranges", cluster: public([]any{"203.0.113.0/24"}), want: Pass},
		{name: "open", cluster: public(nil), want: Fail, text: "accepts every source address"},
		{name: "no profile", cluster: func(d doc) { d["apiServerAccessProfile"] = nil }, want: Fail, text: "authorizedIpRanges is not set"},
		{name: "all addresses", cluster: public([]any{"10.0.0.0/8", "0.0.0.0/0"}), want: Fail, text: "include 0.0.0.0/0"},
		{name: "missing", cluster: func(d doc) { del(d, "apiServerAccessProfile") }, want: Unknown, text: "apiServerAccessProfile.authorizedIpRanges is missing"},
		{name: "missing private flag", cluster: func(d doc) {
			del(d, "apiServerAccessProfile", "enablePrivateCluster")
		}, want: Unknown, text: "apiServerAccessProfile.enablePrivateCluster is missing"},
	})
}

func TestPublicFQDN(t *testing.T) {
	runCheckCases(t, idPublicFQDN, []checkCase{
		{name: "no public fqdn", want: Pass},
		{name: "public fqdn", cluster: func(d doc) { put(d, true, "apiServerAccessProfile", "enablePrivateClusterPublicFqdn") }, want: Fail,
			text: "enablePrivateClusterPublicFqdn is true"},
		{name: "public cluster", cluster: func(d doc) { d["apiServerAccessProfile"] = nil }, want: NotApplicable, text: "not a private cluster"},
		{name: "missing", cluster: func(d doc) { del(d, "apiServerAccessProfile", "enablePrivateClusterPublicFqdn") }, want: Unknown,
			text: "enablePrivateClusterPublicFqdn is missing"},
	})
}

func TestDefender(t *testing.T) {
	runCheckCases(t, idDefender, []checkCase{
		{name: "on", want: Pass},
		{name: "off", cluster: func(d doc) { put(d, nil, "securityProfile", "defender") }, want: Fail, text: "securityMonitoring.enabled is not set"},
		{name: "disabled", cluster: func(d doc) { put(d, false, "securityProfile", "defender", "securityMonitoring", "enabled") }, want: Fail},
		{name: "missing", cluster: func(d doc) { del(d, "securityProfile", "defender") }, want: Unknown, text: "securityProfile.defender.securityMonitoring.enabled is missing"},
	})
}

func TestSubnet(t *testing.T) {
	runCheckCases(t, idSubnet, []checkCase{
		{name: "custom subnet", want: Pass},
		{name: "managed vnet", cluster: func(d doc) { put(d, nil, "agentPoolProfiles", "1", "vnetSubnetId") }, want: Fail, text: "agent pool user"},
		{name: "missing", cluster: func(d doc) { del(d, "agentPoolProfiles", "0", "vnetSubnetId") }, want: Unknown, text: "agentPoolProfiles[0].vnetSubnetId is missing"},
		{name: "no pools", cluster: func(d doc) { del(d, "agentPoolProfiles") }, want: Unknown, text: "agentPoolProfiles is missing"},
	})
}

func TestEgress(t *testing.T) {
	runCheckCases(t, idEgress, []checkCase{
		{name: "udr", want: Pass},
		{name: "nat gateway", cluster: func(d doc) { put(d, "managedNATGateway", "networkProfile", "outboundType") }, want: Pass},
		{name: "load balancer", cluster: func(d doc) { put(d, "loadBalancer", "networkProfile", "outboundType") }, want: Fail, text: "outboundType is loadBalancer"},
		{name: "missing", cluster: func(d doc) { del(d, "networkProfile", "outboundType") }, want: Unknown, text: "networkProfile.outboundType is missing"},
	})
}

func TestNetworkPolicy(t *testing.T) {
	runCheckCases(t, idNetworkPolicy, []checkCase{
		{name: "calico", want: Pass},
		{name: "cilium", cluster: func(d doc) { put(d, "cilium", "networkProfile", "networkPolicy") }, want: Pass},
		{name: "none", cluster: func(d doc) { put(d, "none", "networkProfile", "networkPolicy") }, want: Fail, text: "networkPolicy is none"},
		{name: "null", cluster: func(d doc) { put(d, nil, "networkProfile", "networkPolicy") }, want: Fail, text: "not set (default none)"},
		{name: "missing", cluster: func(d doc) { del(d, "networkProfile", "networkPolicy") }, want: Unknown, text: "networkProfile.networkPolicy is missing"},
	})
}

func TestRegions(t *testing.T) {
	rgList := []any{map[string]any{
		"id":            "/subscriptions/3b2f8c5e-6a1d-4c7e-9f0a-2d4b6e8c1a3f/resourceGroups/notinallowedregions-rg/providers/Microsoft.Storage/storageAccounts/niarsa",
		"name":          "niarsa",
		"type":          "Microsoft.Storage/storageAccounts",
		"location":      "westus",
		"resourceGroup": "notinallowedregions-rg",
	}}
	runCheckCases(t, idRegions, []checkCase{
		{name: "eastus", want: Pass},
		{name: "display name", cluster: func(d doc) { d["location"] = "East US 2" }, want: Pass},
		{name: "westus", cluster: func(d doc) { d["location"] = "westus" }, want: Fail, text: "the cluster is in westus"},
		{name: "other resource", extra: []any{rgList}, want: Fail, text: "Microsoft.Storage/storageAccounts niarsa is in westus"},
		{name: "no allow-list", cfg: func(c *config.Config) { c.Regions.Allowed = nil }, want: Unknown, text: "regions.allowed is empty"},
		{name: "missing", cluster: func(d doc) { del(d, "location") }, want: Unknown, text: "location is missing"},
	})
}

func TestPublicIPs(t *testing.T) {
	lb := func(d doc) {
		put(d, "loadBalancer", "networkProfile", "outboundType")
		put(d, map[string]any{"effectiveOutboundIPs": []any{map[string]any{
			"id": "/subscriptions/3b2f8c5e-6a1d-4c7e-9f0a-2d4b6e8c1a3f/resourceGroups/MC_contosoimg-secure-rg_contosoimg-aks_eastus/providers/Microsoft.Network/publicIPAddresses/egress-ip",
		}}}, "networkProfile", "loadBalancerProfile")
	}
	pip := []any{map[string]any{
		"id":       "/subscriptions/3b2f8c5e-6a1d-4c7e-9f0a-2d4b6e8c1a3f/resourceGroups/contosoimg-secure-rg/providers/Microsoft.Network/publicIPAddresses/appgw-pip",
		"name":     "appgw-pip",
		"type":     "Microsoft.Network/publicIPAddresses",
		"location": "eastus",
	}}
	runCheckCases(t, idPublicIPs, []checkCase{
		{name: "udr, none", want: Pass},
		{name: "load balancer ip", cluster: lb, want: Fail, text: "public IP egress-ip is in resource group MC_contosoimg-secure-rg_contosoimg-aks_eastus"},
		{name: "allowed resource group", cluster: lb, cfg: func(c *config.Config) {
			c.PublicExposure.AllowedResourceGroups = []string{"MC_*"}
		}, want: Pass},
		{name: "managed outbound ip", cluster: func(d doc) {
			put(d, "loadBalancer", "networkProfile", "outboundType")
			put(d, nil, "networkProfile", "loadBalancerProfile")
		}, want: Fail, text: "AKS creates the load balancer's outbound public IP"},
		{name: "public ip resource", extra: []any{pip}, want: Fail, text: "public IP appgw-pip is in resource group contosoimg-secure-rg"},
		{name: "missing", cluster: func(d doc) { del(d, "networkProfile", "outboundType") }, want: Unknown, text: "networkProfile.outboundType is missing"},
	})
}

func TestNodePublicIP(t *testing.T) {
	runCheckCases(t, idNodePublicIP, []checkCase{
		{name: "off", want: Pass},
		{name: "on", cluster: func(d doc) { put(d, true, "agentPoolProfiles", "1", "enableNodePublicIp") }, want: Fail, text: "agent pool user gives every node a public IP"},
		{name: "missing", cluster: func(d doc) { del(d, "agentPoolProfiles", "0", "enableNodePublicIp") }, want: Unknown, text: "agentPoolProfiles[0].enableNodePublicIp is missing"},
	})
}

func TestAzurePolicy(t *testing.T) {
	runCheckCases(t, idAzurePolicy, []checkCase{
		{name: "on", want: Pass},
		{name: "off", cluster: func(d doc) { put(d, false, "addonProfiles", "azurepolicy", "enabled") }, want: Fail, text: "azurepolicy.enabled is false"},
		{name: "not configured", cluster: func(d doc) { del(d, "addonProfiles", "azurepolicy") }, want: Fail, text: "not set (default false)"},
		{name: "no add-ons", cluster: func(d doc) { d["addonProfiles"] = nil }, want: Fail},
		{name: "camel case key", cluster: func(d doc) {
			v := at(d, "addonProfiles", "azurepolicy")
			del(d, "addonProfiles", "azurepolicy")
			put(d, v, "addonProfiles", "azurePolicy")
		}, want: Pass},
		{name: "missing", cluster: func(d doc) { del(d, "addonProfiles") }, want: Unknown, text: "addonProfiles.azurepolicy.enabled is missing"},
	})
}

func TestKeyVault(t *testing.T) {
	runCheckCases(t, idKeyVault, []checkCase{
		{name: "rotation", want: Pass},
		{name: "boolean rotation", cluster: func(d doc) {
			put(d, true, "addonProfiles", "azureKeyvaultSecretsProvider", "config", "enableSecretRotation")
		}, want: Pass},
		{name: "no rotation", cluster: func(d doc) {
			put(d, "false", "addonProfiles", "azureKeyvaultSecretsProvider", "config", "enableSecretRotation")
		}, want: Fail, text: "secret rotation is off"},
		{name: "no config", cluster: func(d doc) { put(d, nil, "addonProfiles", "azureKeyvaultSecretsProvider", "config") }, want: Fail, text: "not set (default false)"},
		{name: "no add-on", cluster: func(d doc) { del(d, "addonProfiles", "azureKeyvaultSecretsProvider") }, want: Fail, text: "add-on (Secrets Store CSI driver) is off"},
		{name: "missing", cluster: func(d doc) { del(d, "addonProfiles") }, want: Unknown, text: "azureKeyvaultSecretsProvider.enabled is missing"},
	})
}

func TestWorkloadIdentity(t *testing.T) {
	runCheckCases(t, idWorkloadID, []checkCase{
		{name: "on", want: Pass},
		{name: "no workload identity", cluster: func(d doc) { put(d, nil, "securityProfile", "workloadIdentity") }, want: Fail, text: "workload identity is off"},
		{name: "no oidc", cluster: func(d doc) { put(d, false, "oidcIssuerProfile", "enabled") }, want: Fail, text: "oidcIssuerProfile.enabled is false"},
		{name: "missing", cluster: func(d doc) { del(d, "oidcIssuerProfile") }, want: Unknown, text: "oidcIssuerProfile.enabled is missing"},
		{name: "fail wins over missing", cluster: func(d doc) {
			del(d, "oidcIssuerProfile")
			put(d, false, "securityProfile", "workloadIdentity", "enabled")
		}, want: Fail, text: "workload identity is off"},
	})
}

func TestKMS(t *testing.T) {
	runCheckCases(t, idKMS, []checkCase{
		{name: "on", want: Pass},
		{name: "off", cluster: func(d doc) { put(d, nil, "securityProfile", "azureKeyVaultKms") }, want: Fail, text: "azureKeyVaultKms.enabled is not set"},
		{name: "missing", cluster: func(d doc) { del(d, "securityProfile") }, want: Unknown, text: "securityProfile.azureKeyVaultKms.enabled is missing"},
	})
}

func TestImageCleaner(t *testing.T) {
	runCheckCases(t, idImageCleaner, []checkCase{
		{name: "on", want: Pass},
		{name: "off", cluster: func(d doc) { put(d, false, "securityProfile", "imageCleaner", "enabled") }, want: Fail, text: "imageCleaner.enabled is false"},
		{name: "missing", cluster: func(d doc) { del(d, "securityProfile", "imageCleaner") }, want: Unknown, text: "securityProfile.imageCleaner.enabled is missing"},
	})
}

func TestDashboard(t *testing.T) {
	runCheckCases(t, idDashboard, []checkCase{
		{name: "not configured", want: Pass},
		{name: "on", cluster: func(d doc) {
			put(d, map[string]any{"enabled": true, "config": nil}, "addonProfiles", "kubeDashboard")
		}, want: Fail, text: "kubeDashboard.enabled is true"},
		{name: "no add-ons", cluster: func(d doc) { d["addonProfiles"] = nil }, want: Pass},
		{name: "missing", cluster: func(d doc) { del(d, "addonProfiles") }, want: Unknown, text: "addonProfiles.kubeDashboard.enabled is missing"},
	})
}

func TestUpgradeChannel(t *testing.T) {
	runCheckCases(t, idUpgradeChannel, []checkCase{
		{name: "patch", want: Pass},
		{name: "none", cluster: func(d doc) { put(d, "none", "autoUpgradeProfile", "upgradeChannel") }, want: Fail, text: "upgradeChannel is none"},
		{name: "null", cluster: func(d doc) { put(d, nil, "autoUpgradeProfile", "upgradeChannel") }, want: Fail, text: "not set (default none)"},
		{name: "missing", cluster: func(d doc) { del(d, "autoUpgradeProfile", "upgradeChannel") }, want: Unknown, text: "autoUpgradeProfile.upgradeChannel is missing"},
	})
}

func TestNodeOSChannel(t *testing.T) {
	runCheckCases(t, idNodeOSChannel, []checkCase{
		{name: "node image", want: Pass},
		{name: "security patch", cluster: func(d doc) { put(d, "SecurityPatch", "autoUpgradeProfile", "nodeOsUpgradeChannel") }, want: Pass},
		{name: "unmanaged", cluster: func(d doc) { put(d, "Unmanaged", "autoUpgradeProfile", "nodeOsUpgradeChannel") }, want: Fail, text: "nodeOsUpgradeChannel is Unmanaged"},
		{name: "none", cluster: func(d doc) { put(d, "None", "autoUpgradeProfile", "nodeOsUpgradeChannel") }, want: Fail},
		{name: "null", cluster: func(d doc) { put(d, nil, "autoUpgradeProfile", "nodeOsUpgradeChannel") }, want: Fail, text: "default Unmanaged"},
		{name: "missing", cluster: func(d doc) { del(d, "autoUpgradeProfile") }, want: Unknown, text: "autoUpgradeProfile.nodeOsUpgradeChannel is missing"},
	})
}

func TestVersion(t *testing.T) {
	runCheckCases(t, idVersion, []checkCase{
		{name: "supported", want: Pass},
		{name: "unsupported", cluster: func(d doc) { d["currentKubernetesVersion"] = "1.33.5" }, want: Fail,
			text: "Kubernetes 1.33.5, which AKS no longer supports; supported minor versions: 1.35, 1.36, 1.37 (as of 2026-11-01)"},
		{name: "old pool", cluster: func(d doc) { put(d, "1.34.2", "agentPoolProfiles", "1", "currentOrchestratorVersion") }, want: Fail,
			text: "agent pool user runs Kubernetes 1.34.2"},
		{name: "configured table", cluster: func(d doc) {
			d["currentKubernetesVersion"] = "1.33.5"
			put(d, "1.33.5", "agentPoolProfiles", "0", "currentOrchestratorVersion")
			put(d, "1.33.5", "agentPoolProfiles", "1", "currentOrchestratorVersion")
		}, cfg: func(c *config.Config) {
			c.Checks = map[string]config.CheckConfig{idVersion: {Parameters: map[string]any{"supportedMinorVersions": []any{"1.33", "1.34"}}}}
		}, want: Pass},
		{name: "long term support", cluster: func(d doc) {
			d["currentKubernetesVersion"] = "1.30.14"
			d["supportPlan"] = "AKSLongTermSupport"
		}, want: Unknown, text: "Long Term Support"},
		{name: "missing", cluster: func(d doc) {
			del(d, "currentKubernetesVersion")
			del(d, "kubernetesVersion")
		}, want: Unknown, text: "kubernetesVersion is missing"},
		{name: "garbage", cluster: func(d doc) { d["currentKubernetesVersion"] = "latest" }, want: Unknown, text: "not a Kubernetes version"},
	})
}

func TestDisabledCheck(t *testing.T) {
	cfg := workshopConfig(t)
	cfg.Checks = map[string]config.CheckConfig{idDashboard: {Disabled: true}}
	inputs := shapeInputs(t, examples+"/insecure/az")
	for _, r := range Assess(inputs, cfg) {
		if r.Check.ID == idDashboard {
			t.Fatal("a disabled check ran")
		}
	}
	_, cov := Evaluate(inputs, cfg)
	if !strings.Contains(cov.NotAssessed[idDashboard], "disabled in the configuration") {
		t.Errorf("coverage of a disabled check: %q", cov.NotAssessed[idDashboard])
	}
}

func TestInvalidVersionParameter(t *testing.T) {
	cfg := workshopConfig(t)
	cfg.Checks = map[string]config.CheckConfig{idVersion: {Parameters: map[string]any{"supportedMinorVersions": "1.36"}}}
	if err := ValidateConfig(cfg); err == nil {
		t.Fatal("ValidateConfig accepted a string for supportedMinorVersions")
	}
	v := verdictOf(t, idVersion, cfg, shapeInputs(t, examples+"/secure/az")...)
	if v.Status != Unknown || !strings.Contains(v.Reason, "supportedMinorVersions") {
		t.Errorf("got %s %q", v.Status, v.Reason)
	}
}

func TestCatalog(t *testing.T) {
	checks := Checks()
	if len(checks) != 24 {
		t.Fatalf("%d checks", len(checks))
	}
	seen := map[string]bool{}
	for _, c := range checks {
		if err := c.Validate(); err != nil {
			t.Error(err)
		}
		if seen[c.ID] {
			t.Errorf("%s twice", c.ID)
		}
		seen[c.ID] = true
		if c.Engine != "posture" || !strings.HasPrefix(c.ID, "BW-AKS-") {
			t.Errorf("%s: engine %q", c.ID, c.Engine)
		}
		if !strings.Contains(c.Remediation, "az ") || !strings.Contains(c.Remediation, "Terraform") {
			t.Errorf("%s: remediation must give the az command and the Terraform argument: %q", c.ID, c.Remediation)
		}
		if c.Anchor == "" || c.Title == "" {
			t.Errorf("%s: no anchor or title", c.ID)
		}
	}
}
