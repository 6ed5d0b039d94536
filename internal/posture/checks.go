package posture

import (
	"fmt"
	"strings"

	"github.com/bulwark-k8s/bulwark/internal/controls"
)

// Check IDs.
const (
	idAAD            = "BW-AKS-001"
	idAzureRBAC      = "BW-AKS-002"
	idLocalAccounts  = "BW-AKS-003"
	idRBAC           = "BW-AKS-004"
	idAuditLogs      = "BW-AKS-005"
	idGitOps         = "BW-AKS-006"
	idAPIAccess      = "BW-AKS-007"
	idPublicFQDN     = "BW-AKS-008"
	idDefender       = "BW-AKS-009"
	idSubnet         = "BW-AKS-010"
	idEgress         = "BW-AKS-011"
	idNetworkPolicy  = "BW-AKS-012"
	idRegions        = "BW-AKS-013"
	idPublicIPs      = "BW-AKS-014"
	idNodePublicIP   = "BW-AKS-015"
	idAzurePolicy    = "BW-AKS-016"
	idKeyVault       = "BW-AKS-017"
	idWorkloadID     = "BW-AKS-018"
	idKMS            = "BW-AKS-019"
	idImageCleaner   = "BW-AKS-020"
	idDashboard      = "BW-AKS-021"
	idUpgradeChannel = "BW-AKS-022"
	idNodeOSChannel  = "BW-AKS-023"
	idVersion        = "BW-AKS-024"
)

func meta(id string, sev controls.Severity, reqs []string, title, anchor, remediation string) controls.Check {
	return controls.Check{
		ID: id, Requirements: reqs, Severity: sev, Title: title,
		Anchor: anchor, Remediation: remediation,
		Engine: controls.EnginePosture, Scope: "scan",
	}
}

func reqs(ids ...string) []string { return ids }

// judge accumulates the parts of a check: every failing part is reported;
// without a failure, the first unknown part makes the check not assessed.
type judge struct {
	fails   []Failure
	unknown string
}

func (j *judge) fail(line int, format string, args ...any) {
	j.fails = append(j.fails, Failure{Message: fmt.Sprintf(format, args...), Line: line})
}

func (j *judge) missing(why string) {
	if j.unknown == "" {
		j.unknown = why
	}
}

// want checks a boolean setting; msg says what is wrong when it is not.
func (j *judge) want(v Value[bool], want bool, msg string) (value, known bool) {
	b, ok := v.Get()
	if !ok {
		j.missing(v.Why())
		return false, false
	}
	if b != want {
		j.fail(v.Line, "%s (%s)", msg, v.Describe())
	}
	return b, true
}

func (j *judge) verdict() Verdict {
	if len(j.fails) > 0 {
		return Verdict{Status: Fail, Failures: j.fails}
	}
	if j.unknown != "" {
		return unknownBecause(j.unknown)
	}
	return pass()
}

// one builds a check on a single boolean setting.
func one(m controls.Check, field func(*Cluster) Value[bool], want bool, msg string) *check {
	return &check{meta: m, eval: func(c *Cluster, _ *Settings) Verdict {
		j := &judge{}
		j.want(field(c), want, msg)
		return j.verdict()
	}}
}

func builtin() []*check {
	return []*check{
		one(meta(idAAD, controls.High, reqs("REQ-01"),
			"AKS-managed Microsoft Entra ID (Azure AD) integration is on",
			"Azure Policy 'Azure Kubernetes Service Clusters should enable Azure Active Directory integration' (450d2877-ebea-41e8-b00c-e286317d21bf); CIS AKS Benchmark 5.5.1 (Manage Kubernetes RBAC users with Azure AD)",
			"az aks update -g <rg> -n <cluster> --enable-aad --aad-admin-group-object-ids <entra-group-id>. Terraform: azure_active_directory_role_based_access_control { admin_group_object_ids = [\"<entra-group-id>\"] } (azurerm 3.x also needs managed = true)."),
			func(c *Cluster) Value[bool] { return c.AADManaged }, true,
			"users do not sign in with Entra ID: AKS-managed Entra ID integration is off"),

		one(meta(idAzureRBAC, controls.Medium, reqs("REQ-01", "REQ-02"),
			"Azure RBAC authorizes Kubernetes API access",
			"CIS AKS Benchmark 5.5.2 (Use Azure RBAC for Kubernetes authorization)",
			"az aks update -g <rg> -n <cluster> --enable-azure-rbac (needs Entra ID integration). Terraform: azure_active_directory_role_based_access_control { azure_rbac_enabled = true }."),
			func(c *Cluster) Value[bool] { return c.AzureRBAC }, true,
			"Kubernetes permissions are not granted through Azure RBAC role assignments"),

		one(meta(idLocalAccounts, controls.High, reqs("REQ-01", "REQ-02"),
			"Local accounts are disabled",
			"Azure Policy 'Azure Kubernetes Service Clusters should have local authentication methods disabled' (993c2fcd-2b29-49d2-9eb0-df2c3a730c32); Checkov CKV_AZURE_141",
			"az aks update -g <rg> -n <cluster> --disable-local-accounts (after Entra ID integration is on). Terraform: local_account_disabled = true."),
			func(c *Cluster) Value[bool] { return c.LocalAccountsDisabled }, true,
			"local accounts are enabled: az aks get-credentials --admin hands out a static cluster-admin credential that bypasses Entra ID"),

		one(meta(idRBAC, controls.High, reqs("REQ-02"),
			"Kubernetes RBAC is enabled",
			"Azure Policy 'Role-Based Access Control (RBAC) should be used on Kubernetes Services' (ac4a19c2-fa67-49b4-8ae5-0b2e78c49457); Checkov CKV_AZURE_5; Trivy AVD-AZU-0042; CIS Azure Foundations Benchmark 8.5",
			"Kubernetes RBAC cannot be turned on in place: recreate the cluster with az aks create (RBAC is on unless --disable-rbac is given). Terraform: role_based_access_control_enabled = true (forces a new cluster)."),
			func(c *Cluster) Value[bool] { return c.RBAC }, true,
			"Kubernetes RBAC is disabled: every authenticated user can do anything"),

		{meta: meta(idAuditLogs, controls.High, reqs("REQ-03"),
			"kube-audit logs go to a storage account",
			"Azure Policy 'Resource logs in Azure Kubernetes Service should be enabled' (245fc9df-fa96-4414-9a0b-3738c2f7341c); CIS AKS Benchmark 2.1.1 (Enable audit logs)",
			"az monitor diagnostic-settings create --name aks-audit --resource <cluster-resource-id> --storage-account <storage-account-id> --logs '[{\"category\":\"kube-audit\",\"enabled\":true}]'. Terraform: resource \"azurerm_monitor_diagnostic_setting\" { target_resource_id = azurerm_kubernetes_cluster.<name>.id, storage_account_id = azurerm_storage_account.<audit>.id, enabled_log { category = \"kube-audit\" } }."),
			eval: evalAuditLogs},

		{meta: meta(idGitOps, controls.Info, reqs("REQ-04"),
			"The GitOps (Flux) extension is installed",
			"Azure Policy 'Configure installation of Flux extension on Kubernetes cluster' (f9175d5f-abc8-1dc3-bd3c-5d7476ada3d1)",
			"az k8s-extension create -g <rg> -c <cluster> -t managedClusters --name flux --extension-type microsoft.flux, then az k8s-configuration flux create to point it at the Git repository of desired state. Terraform: azurerm_kubernetes_cluster_extension { extension_type = \"microsoft.flux\" } and azurerm_kubernetes_flux_configuration."),
			eval: evalGitOps},

		{meta: meta(idAPIAccess, controls.High, reqs("REQ-05b", "PRAC-API"),
			"The API server accepts only authorized IP ranges, or the cluster is private",
			"Azure Policy 'Authorized IP ranges should be defined on Kubernetes Services' (0e246bcf-5f6f-4f87-bc6f-775d4712c7ea); Checkov CKV_AZURE_6; Trivy AVD-AZU-0041; CIS AKS Benchmark 5.4.1 (Restrict access to the control plane endpoint)",
			"az aks update -g <rg> -n <cluster> --api-server-authorized-ip-ranges <cidr>[,<cidr>...] (never 0.0.0.0/0), or create a private cluster with az aks create --enable-private-cluster. Terraform: api_server_access_profile { authorized_ip_ranges = [\"203.0.113.0/24\"] }, or private_cluster_enabled = true."),
			eval: evalAPIAccess},

		{meta: meta(idPublicFQDN, controls.Medium, reqs("PRAC-API"),
			"A private cluster has no public FQDN",
			"Azure Policy 'Azure Kubernetes Service Private Clusters should be enabled' (040732e8-d947-40b8-95d6-854c95024bf8); Checkov CKV_AZURE_115; Trivy AVD-AZU-0065; CIS AKS Benchmark 5.4.2 (private endpoint enabled, public access disabled)",
			"az aks update -g <rg> -n <cluster> --disable-public-fqdn. Terraform: private_cluster_public_fqdn_enabled = false."),
			eval: evalPublicFQDN},

		one(meta(idDefender, controls.High, reqs("PRAC-THREAT", "REQ-12"),
			"Microsoft Defender for Containers is enabled",
			"Azure Policy 'Azure Kubernetes Service clusters should have Defender profile enabled' (a1840de2-8088-4ea8-b153-b4c723e9cb01); CIS AKS Benchmark 5.1.1 (image vulnerability scanning with Microsoft Defender for Cloud)",
			"az aks update -g <rg> -n <cluster> --enable-defender (with the Defender for Containers plan on for the subscription). Terraform: microsoft_defender { log_analytics_workspace_id = azurerm_log_analytics_workspace.<name>.id }."),
			func(c *Cluster) Value[bool] { return c.Defender }, true,
			"Defender for Containers does not watch the cluster: no runtime threat detection and no vulnerability assessment of its images"),

		{meta: meta(idSubnet, controls.Medium, reqs("REQ-07"),
			"Node pools run in a customer-managed VNET subnet",
			"AKS baseline reference architecture (nodes in a customer-managed spoke VNET: bring your own VNET and subnet)",
			"A node pool cannot change subnet: add a pool in your subnet (az aks nodepool add -g <rg> --cluster-name <cluster> -n <pool> --vnet-subnet-id <subnet-id>) and delete the old one, or create the cluster with az aks create --vnet-subnet-id <subnet-id>. Terraform: default_node_pool { vnet_subnet_id = azurerm_subnet.<aks>.id } (and vnet_subnet_id on azurerm_kubernetes_cluster_node_pool)."),
			eval: evalSubnet},

		{meta: meta(idEgress, controls.High, reqs("REQ-07"),
			"Egress goes through a firewall (user-defined routing) or a NAT gateway",
			"AKS guidance 'Control egress traffic using Azure Firewall' (outboundType userDefinedRouting); AKS baseline reference architecture",
			"az aks update -g <rg> -n <cluster> --outbound-type userDefinedRouting, with a route table on the node subnet that sends 0.0.0.0/0 to the firewall (or --outbound-type managedNATGateway / userAssignedNATGateway). Terraform: network_profile { outbound_type = \"userDefinedRouting\" }."),
			eval: evalEgress},

		{meta: meta(idNetworkPolicy, controls.High, reqs("REQ-07", "PRAC-NETPOL"),
			"A network policy engine is enabled",
			"Checkov CKV_AZURE_7; Trivy AVD-AZU-0043; CIS AKS Benchmark 5.4.4 (Ensure Network Policy is enabled)",
			"az aks update -g <rg> -n <cluster> --network-policy calico (or azure; or cilium with --network-dataplane cilium). Terraform: network_profile { network_policy = \"calico\" }."),
			eval: evalNetworkPolicy},

		{meta: meta(idRegions, controls.High, reqs("REQ-08"),
			"The cluster and its resources are in allowed regions",
			"Azure Policy 'Allowed locations' (e56962a6-4747-49cd-b67b-bf8b01975c4c)",
			"Deploy in an allowed region (a cluster cannot move: recreate it with az aks create --location <allowed-region>; other resources likewise), or add the region to regions.allowed in bulwark.yaml. Terraform: location = \"<allowed-region>\"."),
			eval: evalRegions, inventory: true},

		{meta: meta(idPublicIPs, controls.High, reqs("REQ-13"),
			"No public IP outside the allowed resource groups",
			"Azure Policy 'Not allowed resource types' (6c112d4e-5bc7-47ae-a041-ea2d9dccd749) with Microsoft.Network/publicIPAddresses",
			"Send egress through the firewall so AKS creates no outbound public IP (az aks update -g <rg> -n <cluster> --outbound-type userDefinedRouting), delete other public IPs (az network public-ip delete -g <rg> -n <name>), or list their resource group in publicExposure.allowedResourceGroups. Terraform: network_profile { outbound_type = \"userDefinedRouting\" } and no azurerm_public_ip outside the allowed resource groups."),
			eval: evalPublicIPs, inventory: true},

		{meta: meta(idNodePublicIP, controls.High, reqs("REQ-13"),
			"Nodes have no public IPs",
			"Checkov CKV_AZURE_143; CIS AKS Benchmark 5.4.3 (Ensure clusters are created with private nodes)",
			"A pool's node public IPs cannot be turned off in place: add a pool without them (az aks nodepool add -g <rg> --cluster-name <cluster> -n <pool>, without --enable-node-public-ip) and delete the old pool. Terraform: node_public_ip_enabled = false (azurerm 3.x: enable_node_public_ip) in default_node_pool and every azurerm_kubernetes_cluster_node_pool."),
			eval: evalNodePublicIP},

		one(meta(idAzurePolicy, controls.Medium, reqs("REQ-04"),
			"The Azure Policy add-on is enabled",
			"Azure Policy 'Azure Policy Add-on for Kubernetes service (AKS) should be installed and enabled on your clusters' (0a15ec92-a229-4763-bb14-0ea34a568f8d); Checkov CKV_AZURE_116; Trivy AVD-AZU-0066",
			"az aks enable-addons -g <rg> -n <cluster> --addons azure-policy. Terraform: azure_policy_enabled = true."),
			func(c *Cluster) Value[bool] { return c.AzurePolicy }, true,
			"the Azure Policy add-on (managed Gatekeeper) is off: Azure Policy cannot enforce or report on the cluster's workloads"),

		{meta: meta(idKeyVault, controls.Medium, reqs("REQ-11"),
			"The Key Vault secrets provider add-on is enabled with secret rotation",
			"Checkov CKV_AZURE_172",
			"az aks enable-addons -g <rg> -n <cluster> --addons azure-keyvault-secrets-provider --enable-secret-rotation (when the add-on is on: az aks addon update -g <rg> -n <cluster> --addon azure-keyvault-secrets-provider --enable-secret-rotation). Terraform: key_vault_secrets_provider { secret_rotation_enabled = true }."),
			eval: evalKeyVault},

		{meta: meta(idWorkloadID, controls.Medium, reqs("REQ-11"),
			"Workload identity and the OIDC issuer are enabled",
			"Azure Policy 'Azure Kubernetes Service Clusters should enable workload identity' (2cc2e023-0dac-4046-875b-178f683929d5)",
			"az aks update -g <rg> -n <cluster> --enable-oidc-issuer --enable-workload-identity. Terraform: oidc_issuer_enabled = true and workload_identity_enabled = true."),
			eval: evalWorkloadIdentity},

		one(meta(idKMS, controls.Medium, reqs("REQ-11"),
			"Secrets in etcd are encrypted with a Key Vault key (KMS)",
			"Azure Policy 'Azure Kubernetes Clusters should enable Key Management Service (KMS)' (dbbdc317-9734-4dd8-9074-993b29c69008); CIS AKS Benchmark 5.3.1 (Ensure Kubernetes Secrets are encrypted)",
			"az aks update -g <rg> -n <cluster> --enable-azure-keyvault-kms --azure-keyvault-kms-key-id <key-id> --azure-keyvault-kms-key-vault-network-access Private --azure-keyvault-kms-key-vault-resource-id <key-vault-id>. Terraform: key_management_service { key_vault_key_id = azurerm_key_vault_key.<kms>.id, key_vault_network_access = \"Private\" }."),
			func(c *Cluster) Value[bool] { return c.KMS }, true,
			"Kubernetes Secrets in etcd are not encrypted with a customer-managed Key Vault key"),

		one(meta(idImageCleaner, controls.Medium, reqs("REQ-12"),
			"Image Cleaner removes stale and vulnerable images",
			"Azure Policy 'Azure Kubernetes Service Clusters should enable Image Cleaner' (af3c26b2-6fad-493e-9236-9c68928516ab)",
			"az aks update -g <rg> -n <cluster> --enable-image-cleaner --image-cleaner-interval-hours 48. Terraform: image_cleaner_enabled = true and image_cleaner_interval_hours = 48."),
			func(c *Cluster) Value[bool] { return c.ImageCleaner }, true,
			"Image Cleaner is off: unused, vulnerable images stay on the nodes"),

		one(meta(idDashboard, controls.High, reqs("PRAC-DASH"),
			"The Kubernetes dashboard add-on is disabled",
			"Checkov CKV_AZURE_8",
			"az aks disable-addons -g <rg> -n <cluster> --addons kube-dashboard. Terraform (azurerm 2.x): addon_profile { kube_dashboard { enabled = false } }; azurerm 3.x and later cannot enable it."),
			func(c *Cluster) Value[bool] { return c.Dashboard }, false,
			"the Kubernetes dashboard add-on is enabled"),

		{meta: meta(idUpgradeChannel, controls.Medium, reqs("PRAC-UPGRADE"),
			"A cluster auto-upgrade channel is set",
			"Azure Policy 'Azure Kubernetes Service Clusters should enable cluster auto-upgrade' (5c345cdf-2049-47e0-b8fe-b0e96bc2df35); Checkov CKV_AZURE_171",
			"az aks update -g <rg> -n <cluster> --auto-upgrade-channel patch (or stable). Terraform: automatic_upgrade_channel = \"patch\" (azurerm 3.x: automatic_channel_upgrade)."),
			eval: evalUpgradeChannel},

		{meta: meta(idNodeOSChannel, controls.Medium, reqs("PRAC-UPGRADE"),
			"A node OS upgrade channel is set",
			"Azure Policy 'Azure Kubernetes Service Clusters should enable node os auto-upgrade' (04408ca5-aa10-42ce-8536-98955cdddd4c)",
			"az aks update -g <rg> -n <cluster> --node-os-upgrade-channel NodeImage (or SecurityPatch). Terraform: node_os_upgrade_channel = \"NodeImage\" (azurerm 3.x: node_os_channel_upgrade)."),
			eval: evalNodeOSChannel},

		{meta: meta(idVersion, controls.High, reqs("PRAC-UPGRADE"),
			"The Kubernetes version is supported by AKS",
			"Azure Policy 'Kubernetes Services should be upgraded to a non-vulnerable Kubernetes version' (fb893a29-21bb-418c-a157-e99480ec364c)",
			"az aks get-upgrades -g <rg> -n <cluster>, then az aks upgrade -g <rg> -n <cluster> --kubernetes-version <supported version>. Terraform: kubernetes_version = \"<supported version>\" (and orchestrator_version of the node pools)."),
			eval: evalVersion},
	}
}

var auditCategories = map[string]bool{"kube-audit": true, "kube-audit-admin": true}
var auditGroups = map[string]bool{"audit": true, "alllogs": true}

func evalAuditLogs(c *Cluster, _ *Settings) Verdict {
	if len(c.Diagnostics) == 0 {
		return unknownBecause("no diagnostic setting of the cluster is in the inputs (give `az monitor diagnostic-settings list --resource <cluster-id> -o json`, or declare it in the template or plan)")
	}
	j := &judge{}
	var summary []string
	for _, d := range c.Diagnostics {
		var cats []string
		audit := false
		auditUnknown := ""
		for _, l := range d.Logs {
			on, ok := l.Enabled.Get()
			name := l.Category
			if name == "" {
				name = "group " + l.CategoryGroup
			}
			isAudit := auditCategories[strings.ToLower(l.Category)] || auditGroups[strings.ToLower(l.CategoryGroup)]
			switch {
			case !ok && isAudit:
				auditUnknown = l.Enabled.Why()
			case !ok && l.Category == "" && l.CategoryGroup == "":
				auditUnknown = l.Enabled.Why()
			case ok && on:
				cats = append(cats, name)
				audit = audit || isAudit
			}
		}
		storage, sok := d.StorageAccount.Get()
		dest := "Log Analytics"
		switch {
		case sok && storage != "":
			dest = "a storage account"
		case d.Workspace == "":
			dest = "no storage account"
		}
		summary = append(summary, fmt.Sprintf("%s sends [%s] to %s", d.Name, strings.Join(cats, ", "), dest))
		switch {
		case audit && sok && storage != "":
			return pass()
		case audit && !sok:
			j.missing(fmt.Sprintf("%s: %s", d.File, d.StorageAccount.Why()))
		case auditUnknown != "":
			j.missing(fmt.Sprintf("%s: %s", d.File, auditUnknown))
		}
	}
	if j.unknown != "" {
		return unknownBecause(j.unknown)
	}
	if !c.DiagnosticsComplete && !diagnosticsDeclared(c) {
		return unknownBecause("the cluster's diagnostic settings are not all in the inputs")
	}
	return failAt(c.Diagnostics[0].Line, "no diagnostic setting sends kube-audit or kube-audit-admin (or the audit/allLogs category group) to a storage account: %s", strings.Join(summary, "; "))
}

// diagnosticsDeclared: a template or plan that declares the cluster's
// diagnostic settings is judged by what it declares.
func diagnosticsDeclared(c *Cluster) bool {
	for _, d := range c.Diagnostics {
		if d.File == c.File {
			return true
		}
	}
	return false
}

func evalGitOps(c *Cluster, _ *Settings) Verdict {
	var names []string
	for _, e := range c.Extensions {
		if strings.EqualFold(e.Type, "microsoft.flux") || e.Type == "fluxConfiguration" {
			return pass()
		}
		names = append(names, fmt.Sprintf("%s (%s)", e.Name, e.Type))
	}
	if !c.ExtensionsComplete {
		return unknownBecause("no Flux extension or Flux configuration of the cluster is in the inputs (give `az k8s-extension list -c <cluster> -g <rg> -t managedClusters -o json`, or declare it in the template or plan)")
	}
	return failAt(c.Line, "no Flux (microsoft.flux) extension or Flux configuration on the cluster; its extensions: %s", strings.Join(names, ", "))
}

func evalAPIAccess(c *Cluster, _ *Settings) Verdict {
	priv, pok := c.PrivateCluster.Get()
	if pok && priv {
		return pass()
	}
	ranges, rok := c.AuthorizedIPRanges.Get()
	if !rok {
		return unknownBecause(c.AuthorizedIPRanges.Why())
	}
	for _, r := range ranges {
		switch strings.TrimSpace(r) {
		case "0.0.0.0/0", "::/0", "*", "0.0.0.0", "Internet", "Any":
			return failAt(c.AuthorizedIPRanges.Line, "the API server's authorized IP ranges include %s, which allows every address", r)
		}
	}
	if len(ranges) > 0 {
		return pass()
	}
	if !pok {
		return unknownBecause(c.PrivateCluster.Why())
	}
	return failAt(c.AuthorizedIPRanges.Line, "the API server is public and accepts every source address: no authorized IP ranges (%s) and not a private cluster (%s)", c.AuthorizedIPRanges.Describe(), c.PrivateCluster.Describe())
}

func evalPublicFQDN(c *Cluster, _ *Settings) Verdict {
	priv, ok := c.PrivateCluster.Get()
	if !ok {
		return unknownBecause(c.PrivateCluster.Why())
	}
	if !priv {
		return notApplicable("not a private cluster; BW-AKS-007 covers its public API endpoint")
	}
	j := &judge{}
	j.want(c.PrivateClusterPublicFQDN, false, "the private cluster also has a public FQDN that resolves to its API server's private address")
	return j.verdict()
}

func evalSubnet(c *Cluster, _ *Settings) Verdict {
	if !c.PoolsField.Known() {
		return unknownBecause(c.PoolsField.Why())
	}
	j := &judge{}
	for _, p := range c.Pools {
		id, ok := p.VnetSubnetID.Get()
		switch {
		case !ok:
			j.missing(p.VnetSubnetID.Why())
		case id == "":
			j.fail(p.VnetSubnetID.Line, "agent pool %s runs in the VNET AKS creates, not in your VNET (%s)", p.Name, p.VnetSubnetID.Describe())
		}
	}
	if len(c.Pools) == 0 {
		return unknownBecause(c.PoolsField.Path + " lists no agent pool")
	}
	return j.verdict()
}

func evalEgress(c *Cluster, _ *Settings) Verdict {
	ot, ok := c.OutboundType.Get()
	if !ok {
		return unknownBecause(c.OutboundType.Why())
	}
	switch strings.ToLower(ot) {
	case "userdefinedrouting", "managednatgateway", "userassignednatgateway", "block":
		return pass()
	}
	return failAt(c.OutboundType.Line, "egress leaves straight to the internet through the load balancer's public IP, not through a firewall (%s)", c.OutboundType.Describe())
}

func evalNetworkPolicy(c *Cluster, _ *Settings) Verdict {
	np, ok := c.NetworkPolicy.Get()
	if !ok {
		return unknownBecause(c.NetworkPolicy.Why())
	}
	switch strings.ToLower(np) {
	case "azure", "calico", "cilium":
		return pass()
	}
	return failAt(c.NetworkPolicy.Line, "no network policy engine: Kubernetes NetworkPolicies are not enforced (%s)", c.NetworkPolicy.Describe())
}

// locations lists what the region check covers for a cluster: the
// cluster itself and its inventory.
func evalRegions(c *Cluster, s *Settings) Verdict {
	if len(s.AllowedRegions) == 0 {
		return unknownBecause("regions.allowed is empty in the configuration")
	}
	j := &judge{}
	if !c.standalone {
		loc, ok := c.Location.Get()
		switch {
		case !ok:
			j.missing(c.Location.Why())
		case !s.regionAllowed(loc):
			j.fail(c.Location.Line, "the cluster is in %s, which is not in regions.allowed (%s)", loc, strings.Join(s.AllowedRegions, ", "))
		}
	}
	for _, r := range c.Inventory {
		if !r.HasLocation {
			continue
		}
		loc, ok := r.Location.Get()
		switch {
		case !ok:
			j.missing(fmt.Sprintf("%s %s: %s", r.Type, r.Name, r.Location.Why()))
		case strings.EqualFold(loc, "global") || loc == "":
		case !s.regionAllowed(loc):
			ref := r.Ref
			j.fails = append(j.fails, Failure{Line: r.Location.Line, Object: &ref, File: r.File,
				Message: fmt.Sprintf("%s %s is in %s, which is not in regions.allowed (%s)", r.Type, r.Name, loc, strings.Join(s.AllowedRegions, ", "))})
		}
	}
	return j.verdict()
}

func evalPublicIPs(c *Cluster, s *Settings) Verdict {
	j := &judge{}
	var ips []*Resource
	if !c.standalone {
		egress, ok := c.EgressIPs.Get()
		if !ok {
			j.missing(c.EgressIPs.Why())
		}
		ips = append(ips, egress...)
	}
	for _, r := range c.Inventory {
		if r.PublicIP {
			ips = append(ips, r)
		}
	}
	for _, ip := range ips {
		rg, ok := ip.ResourceGroup.Get()
		what := fmt.Sprintf("public IP %s", ip.Name)
		if strings.HasSuffix(ip.Type, "publicIPPrefixes") {
			what = fmt.Sprintf("public IP prefix %s", ip.Name)
		}
		if ip.Implied != "" {
			what = "a public IP (" + ip.Implied + ")"
		}
		ref := ip.Ref
		f := Failure{Line: ip.Line, File: ip.File}
		if ip.Implied == "" {
			f.Object = &ref
		}
		switch {
		case ok && s.resourceGroupAllowed(rg):
			continue
		case ok:
			f.Message = fmt.Sprintf("%s is in resource group %s, which is not in publicExposure.allowedResourceGroups", what, rg)
		case len(s.AllowedResourceGroups) == 0:
			f.Message = fmt.Sprintf("%s exists and publicExposure.allowedResourceGroups allows none", what)
		default:
			j.missing(fmt.Sprintf("%s: %s", what, ip.ResourceGroup.Why()))
			continue
		}
		j.fails = append(j.fails, f)
	}
	return j.verdict()
}

func evalNodePublicIP(c *Cluster, _ *Settings) Verdict {
	if !c.PoolsField.Known() {
		return unknownBecause(c.PoolsField.Why())
	}
	if len(c.Pools) == 0 {
		return unknownBecause(c.PoolsField.Path + " lists no agent pool")
	}
	j := &judge{}
	for _, p := range c.Pools {
		on, ok := p.NodePublicIP.Get()
		switch {
		case !ok:
			j.missing(p.NodePublicIP.Why())
		case on:
			j.fail(p.NodePublicIP.Line, "agent pool %s gives every node a public IP (%s)", p.Name, p.NodePublicIP.Describe())
		}
	}
	return j.verdict()
}

func evalKeyVault(c *Cluster, _ *Settings) Verdict {
	j := &judge{}
	on, ok := j.want(c.KeyVaultSecretsProvider, true, "the Key Vault secrets provider add-on (Secrets Store CSI driver) is off")
	if ok && on {
		j.want(c.SecretRotation, true, "secret rotation is off: pods keep a secret's old value after it changes in Key Vault")
	}
	return j.verdict()
}

func evalWorkloadIdentity(c *Cluster, _ *Settings) Verdict {
	j := &judge{}
	j.want(c.WorkloadIdentity, true, "workload identity is off: pods cannot use Entra ID identities without stored credentials")
	j.want(c.OIDCIssuer, true, "the OIDC issuer is off: workload identity federation needs it")
	return j.verdict()
}

func evalUpgradeChannel(c *Cluster, _ *Settings) Verdict {
	ch, ok := c.UpgradeChannel.Get()
	if !ok {
		return unknownBecause(c.UpgradeChannel.Why())
	}
	if ch == "" || strings.EqualFold(ch, "none") {
		return failAt(c.UpgradeChannel.Line, "the cluster is never upgraded automatically (%s)", c.UpgradeChannel.Describe())
	}
	return pass()
}

func evalNodeOSChannel(c *Cluster, _ *Settings) Verdict {
	ch, ok := c.NodeOSUpgradeChannel.Get()
	if !ok {
		return unknownBecause(c.NodeOSUpgradeChannel.Why())
	}
	switch strings.ToLower(ch) {
	case "", "none", "unmanaged":
		return failAt(c.NodeOSUpgradeChannel.Line, "node OS security patches are not applied by AKS (%s)", c.NodeOSUpgradeChannel.Describe())
	}
	return pass()
}

func evalVersion(c *Cluster, s *Settings) Verdict {
	if why, bad := s.Invalid[idVersion]; bad {
		return unknownBecause(why)
	}
	v, ok := c.KubernetesVersion.Get()
	if !ok {
		return unknownBecause(c.KubernetesVersion.Why())
	}
	lts := false
	if plan, ok := c.SupportPlan.Get(); ok && strings.EqualFold(plan, "AKSLongTermSupport") {
		lts = true
	}
	j := &judge{}
	judgeVersion := func(version string, line int, what string) {
		okv, err := s.Versions.supports(version)
		switch {
		case err != nil:
			j.missing(err.Error())
		case okv:
		case lts:
			j.missing(fmt.Sprintf("%s %s is on the Long Term Support plan, which the version table (%s) does not cover", what, version, s.Versions))
		default:
			j.fail(line, "%s runs Kubernetes %s, which AKS no longer supports; supported minor versions: %s, %s", what, version, s.Versions, s.Versions.Source)
		}
	}
	judgeVersion(v, c.KubernetesVersion.Line, "the control plane")
	for _, p := range c.Pools {
		if pv, ok := p.OrchestratorVersion.Get(); ok && pv != "" {
			if m1, err1 := minorOf(pv); err1 == nil {
				if m2, err2 := minorOf(v); err2 == nil && m1 == m2 {
					continue // reported with the control plane
				}
			}
			judgeVersion(pv, p.OrchestratorVersion.Line, "agent pool "+p.Name)
		}
	}
	return j.verdict()
}
