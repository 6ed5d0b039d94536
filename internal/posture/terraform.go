package posture

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bulwark-k8s/bulwark/internal/controls"
)

func isTerraform(root *node) bool {
	if root.kind != kObject {
		return false
	}
	if !root.has("terraform_version") && !root.has("format_version") {
		return false
	}
	return root.has("planned_values") || root.has("values") || root.has("resource_changes")
}

// tfRes is one managed resource of a plan: its planned values and which of
// them are known only after apply.
type tfRes struct {
	addr    string
	typ     string
	values  *node
	unknown *node // after_unknown, same shape as values
	line    int
	// exprs are the resource's configuration expressions (for references).
	exprs *node
	// module is the module address prefix ("module.aks." or "").
	module string
}

// tfHit walks a path of keys and block indexes in a resource's values.
// Blocks are lists of objects; an empty list is a block left out, so its
// settings take the provider default.
func (t *tfRes) get(path ...any) hit {
	cur, unk := t.values, t.unknown
	display := ""
	line := t.line
	full := ""
	for _, step := range path {
		switch s := step.(type) {
		case string:
			full = joinPath(full, s)
		case int:
			full += "[" + strconv.Itoa(s) + "]"
		}
	}
	for _, step := range path {
		switch s := step.(type) {
		case string:
			display = joinPath(display, s)
			if cur == nil || cur.kind != kObject {
				return hit{path: full, line: line, state: Missing}
			}
			next := cur.get(s)
			unk = unk.get(s)
			if next == nil {
				if unk != nil && unk.kind == kBool && unk.b {
					return hit{path: full, line: line, state: Unresolved, note: afterApply}
				}
				return hit{path: full, line: line, state: Missing}
			}
			cur = next
			line = cur.line
			if cur.kind == kNull {
				return hit{path: full, line: line, state: Default}
			}
		case int:
			display += "[" + strconv.Itoa(s) + "]"
			if cur == nil || cur.kind != kArray {
				return hit{path: full, line: line, state: Missing}
			}
			if s >= len(cur.vals) {
				if unk != nil && unk.kind == kBool && unk.b {
					return hit{path: full, line: line, state: Unresolved, note: afterApply}
				}
				// The block is not configured.
				return hit{path: full, line: line, state: Default}
			}
			if unk != nil && unk.kind == kArray && s < len(unk.vals) {
				unk = unk.vals[s]
			} else {
				unk = nil
			}
			cur = cur.vals[s]
			line = cur.line
			if cur.kind == kNull {
				return hit{path: full, line: line, state: Default}
			}
		}
	}
	return hit{n: cur, path: display, line: line, state: Set}
}

// first returns the first of several alternative paths (attribute names
// differ between azurerm 3.x and 4.x) that the plan has.
func (t *tfRes) first(paths ...[]any) hit {
	for _, p := range paths {
		if h := t.get(p...); h.state != Missing {
			return h
		}
	}
	return t.get(paths[0]...)
}

// block reports whether a nested block is configured (a non-empty list).
func (t *tfRes) block(name string) Value[bool] {
	h := t.get(name)
	switch h.state {
	case Set:
		if h.n.kind == kArray {
			if len(h.n.vals) == 0 {
				return def(false, h.path, h.line)
			}
			return set(true, h.path, h.line)
		}
		v := missing[bool](h.path, h.line)
		v.Note = "it is not a block list"
		return v
	case Default:
		return def(false, h.path, h.line)
	case Unresolved:
		return unresolved[bool](h.path, h.line, h.note)
	}
	return missing[bool](h.path, h.line)
}

var tfReader = &reader{}

const afterApply = "known only after apply"

// idValue: an ID attribute known only after apply refers to a resource
// the plan creates, so it will be set; which resource does not matter to
// the checks that read it (a subnet is given, a storage account is the
// destination).
func idValue(v Value[string]) Value[string] {
	if v.State == Unresolved && v.Note == afterApply {
		return set("(known after apply)", v.Path, v.Line)
	}
	return v
}

// tfToARM maps Terraform resource types to the Azure types they create.
var tfToARM = map[string]string{
	"azurerm_kubernetes_cluster":           clusterType,
	"azurerm_public_ip":                    "Microsoft.Network/publicIPAddresses",
	"azurerm_public_ip_prefix":             "Microsoft.Network/publicIPPrefixes",
	"azurerm_virtual_network":              "Microsoft.Network/virtualNetworks",
	"azurerm_route_table":                  "Microsoft.Network/routeTables",
	"azurerm_network_security_group":       "Microsoft.Network/networkSecurityGroups",
	"azurerm_firewall":                     "Microsoft.Network/azureFirewalls",
	"azurerm_nat_gateway":                  "Microsoft.Network/natGateways",
	"azurerm_application_gateway":          "Microsoft.Network/applicationGateways",
	"azurerm_storage_account":              "Microsoft.Storage/storageAccounts",
	"azurerm_key_vault":                    "Microsoft.KeyVault/vaults",
	"azurerm_resource_group":               "Microsoft.Resources/resourceGroups",
	"azurerm_log_analytics_workspace":      "Microsoft.OperationalInsights/workspaces",
	"azurerm_user_assigned_identity":       "Microsoft.ManagedIdentity/userAssignedIdentities",
	"azurerm_container_registry":           "Microsoft.ContainerRegistry/registries",
	"azurerm_private_dns_zone":             "Microsoft.Network/privateDnsZones",
	"azurerm_kubernetes_cluster_extension": "Microsoft.KubernetesConfiguration/extensions",
}

func parseTerraform(file string, root *node) *Input {
	in := &Input{File: file, Shape: ShapeTerraform}
	unknowns := map[string]*node{}
	var changes []*node
	for _, rc := range root.get("resource_changes").elems() {
		addr := rc.get("address").textOr()
		ch := rc.get("change")
		unknowns[addr] = ch.get("after_unknown")
		changes = append(changes, rc)
	}
	exprs := map[string]*node{}
	tfConfig(root.get("configuration").get("root_module"), "", exprs)

	var resources []*tfRes
	var walk func(m *node)
	walk = func(m *node) {
		for _, r := range m.get("resources").elems() {
			if r.get("mode").textOr() != "managed" {
				continue
			}
			addr := r.get("address").textOr()
			resources = append(resources, &tfRes{
				addr: addr, typ: r.get("type").textOr(), values: r.get("values"),
				unknown: unknowns[addr], line: r.line, module: moduleOf(addr),
			})
		}
		for _, c := range m.get("child_modules").elems() {
			walk(c)
		}
	}
	switch {
	case root.get("planned_values") != nil:
		walk(root.get("planned_values").get("root_module"))
	case root.get("values") != nil:
		walk(root.get("values").get("root_module"))
	default:
		// Only resource changes: use their planned "after" values.
		for _, rc := range changes {
			if rc.get("mode").textOr() != "managed" {
				continue
			}
			acts := rc.get("change").get("actions").elems()
			if len(acts) == 1 && acts[0].textOr() == "delete" {
				continue
			}
			addr := rc.get("address").textOr()
			resources = append(resources, &tfRes{
				addr: addr, typ: rc.get("type").textOr(), values: rc.get("change").get("after"),
				unknown: unknowns[addr], line: rc.line, module: moduleOf(addr),
			})
		}
	}
	for _, r := range resources {
		r.exprs = exprs[configAddress(r.addr)]
	}

	byAddr := map[string]*Cluster{}
	for _, r := range resources {
		if r.typ == "azurerm_kubernetes_cluster" {
			c := tfCluster(r, file)
			in.Clusters = append(in.Clusters, c)
			byAddr[configAddress(r.addr)] = c
		}
	}
	// linkTo resolves the cluster a resource's attribute points at: by
	// ID, by a configuration reference, or as the plan's only cluster.
	linkTo := func(r *tfRes, attr string) (c *Cluster, t ref, onlyOne bool) {
		if h := r.get(attr); h.state == Set {
			if id, ok := h.n.text(); ok && id != "" {
				t := parseID(id)
				for _, c := range in.Clusters {
					if t.matches(c) {
						return c, t, false
					}
				}
				return nil, t, false
			}
		}
		for _, refText := range r.exprs.get(attr).get("references").elems() {
			target := r.module + refText.textOr()
			target = strings.TrimSuffix(target, ".id")
			if c := byAddr[configAddress(target)]; c != nil {
				return c, ref{}, false
			}
		}
		if len(in.Clusters) == 1 {
			return in.Clusters[0], ref{}, true
		}
		return nil, ref{}, false
	}
	for _, r := range resources {
		switch r.typ {
		case "azurerm_kubernetes_cluster":
		case "azurerm_kubernetes_cluster_node_pool":
			pool := tfPool(r, r.get("name").n.textOr(), file, nil)
			pool.cluster, pool.target, _ = linkTo(r, "kubernetes_cluster_id")
			in.Pools = append(in.Pools, pool)
		case "azurerm_monitor_diagnostic_setting":
			d := tfDiagnostic(r, file)
			c, t, onlyOne := linkTo(r, "target_resource_id")
			if !onlyOne || aksCategories(d) {
				d.cluster, d.target = c, t
			}
			in.Diagnostics = append(in.Diagnostics, d)
		case "azurerm_kubernetes_cluster_extension", "azurerm_kubernetes_flux_configuration":
			e := &Extension{File: file, Line: r.line, Name: r.get("name").n.textOr()}
			if r.typ == "azurerm_kubernetes_flux_configuration" {
				e.Type = "fluxConfiguration"
			} else {
				e.Type = r.get("extension_type").n.textOr()
			}
			e.cluster, e.target, _ = linkTo(r, "cluster_id")
			in.Extensions = append(in.Extensions, e)
		default:
			if res := tfResource(r, file); res != nil {
				in.Resources = append(in.Resources, res)
			}
		}
	}
	return in
}

// tfConfig indexes configuration expressions by resource address.
func tfConfig(m *node, prefix string, out map[string]*node) {
	for _, r := range m.get("resources").elems() {
		out[prefix+r.get("address").textOr()] = r.get("expressions")
	}
	if calls := m.get("module_calls"); calls != nil && calls.kind == kObject {
		for i, name := range calls.keys {
			tfConfig(calls.vals[i].get("module"), prefix+"module."+name+".", out)
		}
	}
}

// moduleOf returns the module part of an address ("module.aks." or "").
func moduleOf(addr string) string {
	i := strings.LastIndex(addr, "module.")
	if i < 0 {
		return ""
	}
	rest := addr[i:]
	j := strings.Index(rest[len("module."):], ".")
	if j < 0 {
		return ""
	}
	return addr[:i+len("module.")+j+1]
}

// configAddress drops instance keys: module.aks[0].azurerm_x.y["a"] →
// module.aks.azurerm_x.y.
func configAddress(addr string) string {
	var b strings.Builder
	depth := 0
	for _, r := range addr {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func tfCluster(r *tfRes, file string) *Cluster {
	rd := tfReader
	c := &Cluster{Shape: ShapeTerraform, File: file, Line: r.line, Address: r.addr}
	c.Name = r.get("name").n.textOr()
	if c.Name == "" {
		c.Name = r.addr
	}
	c.ID = r.get("id").n.textOr()
	c.ResourceGroup = rd.str(r.get("resource_group_name"), "", false)
	c.Location = rd.str(r.get("location"), "", false)
	v := r.get("current_kubernetes_version")
	if v.state != Set {
		v = r.get("kubernetes_version")
	}
	c.KubernetesVersion = rd.str(v, "", false)
	if c.KubernetesVersion.State == Default {
		c.KubernetesVersion = missing[string](c.KubernetesVersion.Path, c.KubernetesVersion.Line)
		c.KubernetesVersion.Note = "not set: AKS picks its default version at creation"
	}
	c.SupportPlan = rd.str(r.get("support_plan"), "KubernetesOfficial", false)

	aad := r.block("azure_active_directory_role_based_access_control")
	c.AADManaged = aad
	if aad.State == Set && aad.V {
		// azurerm 3.x has managed = true|false; in 4.x the block is always
		// AKS-managed Entra ID integration.
		if m := r.get("azure_active_directory_role_based_access_control", 0, "managed"); m.state != Missing {
			c.AADManaged = rd.boolean(m, false, false)
		}
	}
	c.AzureRBAC = rd.boolean(r.get("azure_active_directory_role_based_access_control", 0, "azure_rbac_enabled"), false, false)
	c.LocalAccountsDisabled = rd.boolean(r.get("local_account_disabled"), false, false)
	c.RBAC = rd.boolean(r.get("role_based_access_control_enabled"), true, false)

	ips := r.get("api_server_access_profile", 0, "authorized_ip_ranges")
	if ips.state == Missing || ips.state == Default {
		if old := r.get("api_server_authorized_ip_ranges"); old.state == Set {
			ips = old
		}
	}
	c.AuthorizedIPRanges = rd.strs(ips, false)
	c.PrivateCluster = rd.boolean(r.get("private_cluster_enabled"), false, false)
	c.PrivateClusterPublicFQDN = rd.boolean(r.get("private_cluster_public_fqdn_enabled"), false, false)
	c.Defender = r.block("microsoft_defender")

	c.NetworkPlugin = rd.str(r.get("network_profile", 0, "network_plugin"), "kubenet", false)
	c.NetworkPolicy = rd.str(r.get("network_profile", 0, "network_policy"), "none", false)
	c.OutboundType = rd.str(r.get("network_profile", 0, "outbound_type"), "loadBalancer", false)
	c.NodeResourceGroup = rd.str(r.get("node_resource_group"), "", false)

	c.PoolsField = r.block("default_node_pool")
	if c.PoolsField.State == Set {
		c.Pools = append(c.Pools, tfPool(r, "", file, []any{"default_node_pool", 0}))
	}

	c.AzurePolicy = rd.boolean(r.get("azure_policy_enabled"), false, false)
	c.KeyVaultSecretsProvider = r.block("key_vault_secrets_provider")
	c.SecretRotation = rd.boolean(r.get("key_vault_secrets_provider", 0, "secret_rotation_enabled"), false, false)
	c.WorkloadIdentity = rd.boolean(r.get("workload_identity_enabled"), false, false)
	c.OIDCIssuer = rd.boolean(r.get("oidc_issuer_enabled"), false, false)
	c.KMS = r.block("key_management_service")
	c.ImageCleaner = rd.boolean(r.get("image_cleaner_enabled"), false, false)
	switch {
	case r.get("addon_profile").state != Missing:
		c.Dashboard = rd.boolean(r.get("addon_profile", 0, "kube_dashboard", 0, "enabled"), false, false)
	case r.get("role_based_access_control_enabled").state != Missing:
		// The azurerm 3.x+ schema (role_based_access_control_enabled
		// replaced the 2.x block) has no way to enable the dashboard.
		c.Dashboard = def(false, "addon_profile.kube_dashboard (not in the azurerm 3.x+ schema)", r.line)
	default:
		c.Dashboard = missing[bool]("addon_profile[0].kube_dashboard[0].enabled", r.line)
	}
	c.UpgradeChannel = rd.str(r.first([]any{"automatic_upgrade_channel"}, []any{"automatic_channel_upgrade"}), "none", false)
	c.NodeOSUpgradeChannel = rd.str(r.first([]any{"node_os_upgrade_channel"}, []any{"node_os_channel_upgrade"}), "Unmanaged", false)

	c.EgressIPs = tfEgress(r, c, file)
	c.Ref = controls.ObjectRef{Kind: clusterType, Name: c.Name}
	if rg, ok := c.ResourceGroup.Get(); ok {
		c.Ref.Namespace = rg
	}
	return c
}

// tfPool reads a node pool: default_node_pool[0] of a cluster (prefix) or
// an azurerm_kubernetes_cluster_node_pool (no prefix).
func tfPool(r *tfRes, name, file string, prefix []any) *Pool {
	at := func(p ...any) []any { return append(append([]any{}, prefix...), p...) }
	rd := tfReader
	pool := &Pool{File: file, Line: r.line, Name: name}
	if n := r.get(at("name")...); n.state == Set {
		pool.Name = n.n.textOr()
	}
	pool.VnetSubnetID = idValue(rd.str(r.get(at("vnet_subnet_id")...), "", false))
	pool.NodePublicIP = rd.boolean(r.first(at("node_public_ip_enabled"), at("enable_node_public_ip")), false, false)
	pool.OrchestratorVersion = rd.str(r.get(at("orchestrator_version")...), "", false)
	return pool
}

func tfEgress(r *tfRes, c *Cluster, file string) Value[[]*Resource] {
	ot, ok := c.OutboundType.Get()
	if !ok {
		return Value[[]*Resource]{State: c.OutboundType.State, Path: c.OutboundType.Path, Line: c.OutboundType.Line, Note: c.OutboundType.Note}
	}
	path, line := c.OutboundType.Path, c.OutboundType.Line
	why := ""
	switch strings.ToLower(ot) {
	case "loadbalancer":
		var out []*Resource
		for _, attr := range []struct{ name, typ string }{
			{"outbound_ip_address_ids", "Microsoft.Network/publicIPAddresses"},
			{"outbound_ip_prefix_ids", "Microsoft.Network/publicIPPrefixes"},
		} {
			h := r.get("network_profile", 0, "load_balancer_profile", 0, attr.name)
			if h.state == Unresolved {
				// The load balancer profile is computed; only outbound IPs the
				// configuration gives would make it matter.
				cfgIPs := r.exprs.get("network_profile").elems()
				if len(cfgIPs) > 0 && len(cfgIPs[0].get("load_balancer_profile").elems()) > 0 &&
					cfgIPs[0].get("load_balancer_profile").elems()[0].get(attr.name) != nil {
					return unresolved[[]*Resource](h.path, h.line, h.note)
				}
				continue
			}
			if h.state != Set {
				continue
			}
			for _, e := range h.n.elems() {
				id := e.textOr()
				res := &Resource{Type: attr.typ, Name: lastSegment(id), PublicIP: true, File: file, Line: e.line}
				if rg := resourceGroupOf(id); rg != "" {
					res.ResourceGroup = set(rg, h.path, e.line)
				} else {
					res.ResourceGroup = missing[string](h.path, e.line)
				}
				res.Ref = controls.ObjectRef{Kind: attr.typ, Namespace: res.ResourceGroup.V, Name: res.Name}
				out = append(out, res)
			}
		}
		if len(out) > 0 {
			return set(out, path, line)
		}
		why = "AKS creates the load balancer's outbound public IP for outboundType loadBalancer"
	case "managednatgateway":
		why = "AKS creates the managed NAT gateway's outbound public IP for outboundType managedNATGateway"
	default:
		return set([]*Resource(nil), path, line)
	}
	return set([]*Resource{impliedIP(c, why, file, line)}, path, line)
}

func tfDiagnostic(r *tfRes, file string) *DiagnosticSetting {
	rd := tfReader
	d := &DiagnosticSetting{File: file, Line: r.line, Name: r.get("name").n.textOr()}
	d.StorageAccount = idValue(rd.str(r.get("storage_account_id"), "", false))
	d.Workspace = r.get("log_analytics_workspace_id").n.textOr()
	for _, blockName := range []string{"enabled_log", "log"} {
		h := r.get(blockName)
		if h.state != Set {
			continue
		}
		for i, l := range h.n.elems() {
			lb := fmt.Sprintf("%s[%d]", blockName, i)
			en := def(true, lb+".enabled", l.line) // enabled_log blocks are enabled
			if e := l.get("enabled"); e != nil && e.kind == kBool {
				en = set(e.b, lb+".enabled", e.line)
			}
			d.Logs = append(d.Logs, LogSetting{
				Category:      l.get("category").textOr(),
				CategoryGroup: l.get("category_group").textOr(),
				Enabled:       en,
			})
		}
	}
	return d
}

// tfResource turns any other azurerm resource with a location (or a
// public IP) into a Resource.
func tfResource(r *tfRes, file string) *Resource {
	if !strings.HasPrefix(r.typ, "azurerm_") {
		return nil
	}
	rd := tfReader
	res := &Resource{File: file, Line: r.line, Type: r.typ}
	if t, ok := tfToARM[r.typ]; ok {
		res.Type = t
	}
	res.Name = r.get("name").n.textOr()
	if res.Name == "" {
		res.Name = r.addr
	}
	res.PublicIP = r.typ == "azurerm_public_ip" || r.typ == "azurerm_public_ip_prefix"
	loc := r.get("location")
	res.HasLocation = loc.state != Missing
	if res.HasLocation {
		res.Location = rd.str(loc, "", false)
	}
	if r.typ == "azurerm_resource_group" {
		res.ResourceGroup = set(res.Name, "name", r.line)
	} else {
		res.ResourceGroup = rd.str(r.get("resource_group_name"), "", false)
	}
	if !res.HasLocation && !res.PublicIP {
		return nil
	}
	res.Ref = controls.ObjectRef{Kind: res.Type, Namespace: res.ResourceGroup.V, Name: res.Name}
	return res
}
