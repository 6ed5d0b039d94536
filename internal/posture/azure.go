package posture

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bulwark-k8s/bulwark/internal/controls"
)

// reader walks Azure-shaped JSON (az CLI output, REST resources, ARM
// template resources), evaluating ARM expressions on the way when env is
// set, and turns fields into Values.
type reader struct {
	env *armEnv
	// cli spells field names the way the Azure CLI prints them when a
	// field is named in a message but absent from the input.
	cli bool
	// sparse: an absent field means "not configured" (REST resources and
	// ARM templates leave unset fields out), but only for fields whose API
	// default is the insecure value; the caller says which.
	sparse bool
}

// hit is the result of walking a path.
type hit struct {
	n     *node
	path  string
	line  int
	state State
	note  string
}

// resolve evaluates an ARM expression string into a node; other nodes
// are returned as they are.
func (r *reader) resolve(n *node) (*node, string) {
	if r.env == nil || n == nil || n.kind != kString || n.evaluated {
		return n, ""
	}
	if !isExpression(n.str) && !strings.HasPrefix(n.str, "[[") {
		return n, ""
	}
	v := r.env.evalString(n.str)
	if u, ok := v.(unknown); ok {
		return nil, u.why
	}
	return fromAny(v, n.line), ""
}

func joinPath(base, key string) string {
	if base == "" {
		return key
	}
	if key == "" {
		return base
	}
	return base + "." + key
}

// cliNames are the Azure CLI's spellings of REST API field names.
var cliNames = map[string]string{
	"enableAzureRBAC":                "enableAzureRbac",
	"authorizedIPRanges":             "authorizedIpRanges",
	"enableRBAC":                     "enableRbac",
	"vnetSubnetID":                   "vnetSubnetId",
	"enableNodePublicIP":             "enableNodePublicIp",
	"nodeOSUpgradeChannel":           "nodeOsUpgradeChannel",
	"enablePrivateClusterPublicFQDN": "enablePrivateClusterPublicFqdn",
	"outboundIPs":                    "outboundIps",
	"outboundIPPrefixes":             "outboundIpPrefixes",
	"publicIPs":                      "publicIps",
}

// rest renders keys not found in the input.
func (r *reader) rest(keys []string) string {
	if !r.cli {
		return strings.Join(keys, ".")
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		if c, ok := cliNames[k]; ok {
			k = c
		}
		out[i] = k
	}
	return strings.Join(out, ".")
}

// walk follows keys from a node. base is the display path of from.
func (r *reader) walk(from *node, base string, keys ...string) hit {
	cur := from
	path := base
	line := 0
	if from != nil {
		line = from.line
	}
	for i, key := range keys {
		n, why := r.resolve(cur)
		if why != "" {
			return hit{path: joinPath(path, r.rest(keys[i:])), line: line, state: Unresolved, note: why}
		}
		cur = n
		if cur == nil {
			return hit{path: joinPath(path, r.rest(keys[i:])), line: line, state: Missing}
		}
		if cur.kind == kNull {
			// A null profile: nothing under it is configured.
			return hit{path: joinPath(path, r.rest(keys[i:])), line: cur.line, state: Default}
		}
		if cur.kind != kObject {
			return hit{path: path, line: cur.line, state: Missing, note: fmt.Sprintf("%s is a %s, not an object", path, cur.kind)}
		}
		next := cur.get(key)
		path = joinPath(path, r.keyOf(cur, key))
		if next == nil {
			return hit{path: joinPath(path, r.rest(keys[i+1:])), line: cur.line, state: Missing}
		}
		cur = next
		line = cur.line
	}
	n, why := r.resolve(cur)
	if why != "" {
		return hit{path: path, line: line, state: Unresolved, note: why}
	}
	if n == nil {
		return hit{path: path, line: line, state: Missing}
	}
	if n.kind == kNull {
		return hit{path: path, line: n.line, state: Default}
	}
	return hit{n: n, path: path, line: n.line, state: Set}
}

// keyOf is the key as the input spells it, or as the shape would.
func (r *reader) keyOf(n *node, key string) string {
	if k := n.keyOf(key); k != key || n.get(key) != nil {
		return k
	}
	return r.rest([]string{key})
}

// boolean turns a hit into a boolean. dflt is the API default; absent
// fields of sparse shapes take it only when absentIsDefault.
func (r *reader) boolean(h hit, dflt, absentIsDefault bool) Value[bool] {
	switch h.state {
	case Set:
		switch h.n.kind {
		case kBool:
			return set(h.n.b, h.path, h.line)
		case kString:
			if b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(h.n.str))); err == nil {
				return set(b, h.path, h.line)
			}
		}
		v := missing[bool](h.path, h.line)
		v.Note = fmt.Sprintf("it is a %s, not a boolean", h.n.kind)
		return v
	case Default:
		return def(dflt, h.path, h.line)
	case Unresolved:
		return unresolved[bool](h.path, h.line, h.note)
	}
	if r.sparse && absentIsDefault {
		return def(dflt, h.path, h.line)
	}
	v := missing[bool](h.path, h.line)
	v.Note = h.note
	return v
}

func (r *reader) str(h hit, dflt string, absentIsDefault bool) Value[string] {
	switch h.state {
	case Set:
		if h.n.kind == kString {
			return set(h.n.str, h.path, h.line)
		}
		v := missing[string](h.path, h.line)
		v.Note = fmt.Sprintf("it is a %s, not a string", h.n.kind)
		return v
	case Default:
		return def(dflt, h.path, h.line)
	case Unresolved:
		return unresolved[string](h.path, h.line, h.note)
	}
	if r.sparse && absentIsDefault {
		return def(dflt, h.path, h.line)
	}
	v := missing[string](h.path, h.line)
	v.Note = h.note
	return v
}

func (r *reader) strs(h hit, absentIsDefault bool) Value[[]string] {
	switch h.state {
	case Set:
		if h.n.kind != kArray {
			v := missing[[]string](h.path, h.line)
			v.Note = fmt.Sprintf("it is a %s, not an array", h.n.kind)
			return v
		}
		var out []string
		for _, e := range h.n.vals {
			e, why := r.resolve(e)
			if why != "" {
				return unresolved[[]string](h.path, h.line, why)
			}
			if s, ok := e.text(); ok {
				out = append(out, s)
			}
		}
		return set(out, h.path, h.line)
	case Default:
		return def([]string(nil), h.path, h.line)
	case Unresolved:
		return unresolved[[]string](h.path, h.line, h.note)
	}
	if r.sparse && absentIsDefault {
		return def([]string(nil), h.path, h.line)
	}
	v := missing[[]string](h.path, h.line)
	v.Note = h.note
	return v
}

// entry reads key of a map-valued field (addonProfiles, an add-on's
// config): a map that is present but lacks the key does not configure it.
func (r *reader) entry(from *node, base string, mapPath []string, key string, rest ...string) hit {
	m := r.walk(from, base, mapPath...)
	switch m.state {
	case Set:
		if m.n.kind != kObject {
			return hit{path: m.path, line: m.line, state: Missing, note: fmt.Sprintf("%s is a %s, not an object", m.path, m.n.kind)}
		}
		e := m.n.get(key)
		if e == nil {
			return hit{path: joinPath(joinPath(m.path, key), r.rest(rest)), line: m.line, state: Default}
		}
		if len(rest) == 0 {
			return r.walk(e, joinPath(m.path, m.n.keyOf(key)))
		}
		// The add-on's own settings are maps too (config).
		if len(rest) == 2 {
			return r.entry(e, joinPath(m.path, m.n.keyOf(key)), rest[:1], rest[1])
		}
		return r.walk(e, joinPath(m.path, m.n.keyOf(key)), rest...)
	case Default, Unresolved:
		m.path = joinPath(joinPath(m.path, key), r.rest(rest))
		return m
	}
	m.path = joinPath(joinPath(m.path, key), r.rest(rest))
	return m
}

// typeOf returns a resource's type ("" when absent).
func typeOf(n *node) string { return n.get("type").textOr() }

func typeIs(n *node, t string) bool { return strings.EqualFold(typeOf(n), t) }

// azureCluster normalises a managedClusters resource in az CLI, REST or
// ARM shape. res is the resource object; for az CLI output the settings
// are at its top level, otherwise under "properties".
func azureCluster(res *node, shape Shape, env *armEnv, file string) *Cluster {
	r := &reader{env: env, cli: shape == ShapeAzCLI}
	c := &Cluster{Shape: shape, File: file, Line: res.line}
	props, base := res, ""
	propsNote := ""
	if shape != ShapeAzCLI {
		base = res.keyOf("properties")
		h := r.walk(res, "", "properties")
		switch {
		case h.state == Set && h.n.kind == kObject:
			props = h.n
			r.sparse = true
		case h.state == Unresolved:
			props, propsNote = nil, h.note
		default:
			props, propsNote = nil, "the resource has no properties object"
		}
	}
	rootHit := func(keys ...string) hit {
		if props == nil {
			return hit{path: joinPath(base, strings.Join(keys, ".")), line: res.line, state: Missing, note: propsNote}
		}
		return r.walk(props, base, keys...)
	}

	name := r.str(r.walk(res, "", "name"), "", false)
	c.Name, _ = name.Get()
	if name.State == Unresolved {
		c.Name = res.get("name").textOr()
	}
	c.ID = res.get("id").textOr()
	c.Location = r.str(r.walk(res, "", "location"), "", false)
	if loc, ok := c.Location.Get(); ok && loc == "" {
		c.Location = missing[string](c.Location.Path, c.Location.Line)
	}
	switch {
	case shape == ShapeAzCLI && res.get("resourceGroup").textOr() != "":
		g := res.get("resourceGroup")
		c.ResourceGroup = set(g.str, "resourceGroup", g.line)
	case c.ID != "" && !placeholder(resourceGroupOf(c.ID)):
		c.ResourceGroup = set(resourceGroupOf(c.ID), "id", res.get("id").line)
	default:
		c.ResourceGroup = missing[string]("resourceGroup", res.line)
		if shape == ShapeARM {
			c.ResourceGroup.Note = "a template deploys into the resource group chosen at deployment"
		}
	}

	cur := rootHit("currentKubernetesVersion")
	if cur.state != Set {
		cur = rootHit("kubernetesVersion")
	}
	c.KubernetesVersion = r.str(cur, "", false)
	if v, ok := c.KubernetesVersion.Get(); ok && v == "" {
		c.KubernetesVersion = missing[string](c.KubernetesVersion.Path, c.KubernetesVersion.Line)
		c.KubernetesVersion.Note = "AKS picks its default version at creation"
	}
	c.SupportPlan = r.str(rootHit("supportPlan"), "KubernetesOfficial", true)

	c.AADManaged = r.boolean(rootHit("aadProfile", "managed"), false, true)
	c.AzureRBAC = r.boolean(rootHit("aadProfile", "enableAzureRBAC"), false, true)
	c.LocalAccountsDisabled = r.boolean(rootHit("disableLocalAccounts"), false, true)
	c.RBAC = r.boolean(rootHit("enableRBAC"), true, false)

	c.AuthorizedIPRanges = r.strs(rootHit("apiServerAccessProfile", "authorizedIPRanges"), true)
	c.PrivateCluster = r.boolean(rootHit("apiServerAccessProfile", "enablePrivateCluster"), false, true)
	// The API default of enablePrivateClusterPublicFQDN is not documented;
	// a null is taken as "public FQDN created" (the CLI's default), an
	// absent field is not assumed.
	c.PrivateClusterPublicFQDN = r.boolean(rootHit("apiServerAccessProfile", "enablePrivateClusterPublicFQDN"), true, false)

	c.Defender = r.boolean(rootHit("securityProfile", "defender", "securityMonitoring", "enabled"), false, true)

	c.NetworkPlugin = r.str(rootHit("networkProfile", "networkPlugin"), "kubenet", true)
	c.NetworkPolicy = r.str(rootHit("networkProfile", "networkPolicy"), "none", true)
	c.OutboundType = r.str(rootHit("networkProfile", "outboundType"), "loadBalancer", true)
	c.NodeResourceGroup = r.str(rootHit("nodeResourceGroup"), "", false)

	pools := rootHit("agentPoolProfiles")
	c.PoolsField = Value[bool]{State: pools.state, Path: pools.path, Line: pools.line, Note: pools.note}
	if pools.state == Set {
		c.PoolsField.V = true
		if pools.n.kind != kArray {
			c.PoolsField = missing[bool](pools.path, pools.line)
			c.PoolsField.Note = "it is not an array"
		}
		for i, p := range pools.n.elems() {
			p, why := r.resolve(p)
			pbase := fmt.Sprintf("%s[%d]", pools.path, i)
			if why != "" || p == nil || p.kind != kObject {
				c.PoolsField = unresolved[bool](pbase, pools.line, why)
				continue
			}
			c.Pools = append(c.Pools, azurePool(r, p, pbase, file))
		}
	}

	c.AzurePolicy = r.boolean(r.addon(props, base, "azurepolicy", "enabled"), false, true)
	c.KeyVaultSecretsProvider = r.boolean(r.addon(props, base, "azureKeyvaultSecretsProvider", "enabled"), false, true)
	c.SecretRotation = r.boolean(r.addon(props, base, "azureKeyvaultSecretsProvider", "config", "enableSecretRotation"), false, true)
	c.Dashboard = r.boolean(r.addon(props, base, "kubeDashboard", "enabled"), false, false)

	c.WorkloadIdentity = r.boolean(rootHit("securityProfile", "workloadIdentity", "enabled"), false, true)
	c.OIDCIssuer = r.boolean(rootHit("oidcIssuerProfile", "enabled"), false, true)
	c.KMS = r.boolean(rootHit("securityProfile", "azureKeyVaultKms", "enabled"), false, true)
	c.ImageCleaner = r.boolean(rootHit("securityProfile", "imageCleaner", "enabled"), false, true)

	c.UpgradeChannel = r.str(rootHit("autoUpgradeProfile", "upgradeChannel"), "none", true)
	// A null node OS channel is a cluster from before the setting existed:
	// its nodes are not patched automatically (Unmanaged).
	c.NodeOSUpgradeChannel = r.str(rootHit("autoUpgradeProfile", "nodeOSUpgradeChannel"), "Unmanaged", false)

	c.EgressIPs = azureEgress(r, c, props, base, file)

	c.Ref = controls.ObjectRef{Kind: clusterType, Name: c.Name}
	if rg, ok := c.ResourceGroup.Get(); ok {
		c.Ref.Namespace = rg
	}
	if shape == ShapeARM || shape == ShapeREST {
		c.Ref.APIVersion = res.get("apiVersion").textOr()
	}
	return c
}

// addon reads addonProfiles.<name>.<keys>.
func (r *reader) addon(props *node, base, name string, keys ...string) hit {
	if props == nil {
		return hit{path: joinPath(base, "addonProfiles."+name+"."+strings.Join(keys, ".")), state: Missing, note: "the resource's properties are unknown"}
	}
	return r.entry(props, base, []string{"addonProfiles"}, name, keys...)
}

func azurePool(r *reader, p *node, base, file string) *Pool {
	pool := &Pool{File: file, Line: p.line}
	pool.Name = r.str(r.walk(p, base, "name"), "", false).V
	pool.VnetSubnetID = r.str(r.walk(p, base, "vnetSubnetID"), "", true)
	pool.NodePublicIP = r.boolean(r.walk(p, base, "enableNodePublicIP"), false, false)
	v := r.walk(p, base, "currentOrchestratorVersion")
	if v.state != Set {
		v = r.walk(p, base, "orchestratorVersion")
	}
	pool.OrchestratorVersion = r.str(v, "", false)
	return pool
}

// azureEgress lists the public IPs the cluster's egress uses.
func azureEgress(r *reader, c *Cluster, props *node, base, file string) Value[[]*Resource] {
	ot, ok := c.OutboundType.Get()
	if !ok {
		return Value[[]*Resource]{State: c.OutboundType.State, Path: c.OutboundType.Path, Line: c.OutboundType.Line, Note: c.OutboundType.Note}
	}
	path, line := c.OutboundType.Path, c.OutboundType.Line
	var profile string
	switch strings.ToLower(ot) {
	case "loadbalancer":
		profile = "loadBalancerProfile"
	case "managednatgateway":
		profile = "natGatewayProfile"
	default:
		return set([]*Resource(nil), path, line)
	}
	var out []*Resource
	ids := func(h hit, typ string) {
		for i, e := range h.n.elems() {
			idv := r.str(r.walk(e, fmt.Sprintf("%s[%d]", h.path, i), "id"), "", false)
			id, ok := idv.Get()
			if !ok || id == "" {
				continue
			}
			res := &Resource{Type: typ, Name: lastSegment(id), File: file, Line: e.line, PublicIP: true}
			if rg := resourceGroupOf(id); !placeholder(rg) {
				res.ResourceGroup = set(rg, h.path, e.line)
			} else {
				res.ResourceGroup = missing[string](h.path, e.line)
				res.ResourceGroup.Note = "the ID's resource group is decided at deployment"
			}
			res.Ref = controls.ObjectRef{Kind: typ, Namespace: res.ResourceGroup.V, Name: res.Name}
			out = append(out, res)
		}
	}
	if props != nil {
		for _, p := range [][]string{
			{"networkProfile", profile, "effectiveOutboundIPs"},
			{"networkProfile", profile, "outboundIPs", "publicIPs"},
		} {
			if h := r.walk(props, base, p...); h.state == Set {
				ids(h, "Microsoft.Network/publicIPAddresses")
			}
		}
		if h := r.walk(props, base, "networkProfile", profile, "outboundIPPrefixes", "publicIPPrefixes"); h.state == Set {
			ids(h, "Microsoft.Network/publicIPPrefixes")
		}
	}
	if len(out) > 0 {
		return set(out, path, line)
	}
	// AKS creates the outbound public IP itself, in the node resource group.
	why := "AKS creates the load balancer's outbound public IP for outboundType loadBalancer"
	if strings.EqualFold(ot, "managedNATGateway") {
		why = "AKS creates the managed NAT gateway's outbound public IP for outboundType managedNATGateway"
	}
	return set([]*Resource{impliedIP(c, why, file, line)}, path, line)
}

// impliedIP is the public IP AKS creates in the node resource group.
func impliedIP(c *Cluster, why, file string, line int) *Resource {
	res := &Resource{Type: "Microsoft.Network/publicIPAddresses", Implied: why, PublicIP: true, File: file, Line: line}
	if nrg, ok := c.NodeResourceGroup.Get(); ok && nrg != "" && !isExpression(nrg) {
		res.ResourceGroup = set(nrg, c.NodeResourceGroup.Path, c.NodeResourceGroup.Line)
	} else {
		rg, ok1 := c.ResourceGroup.Get()
		loc, ok2 := c.Location.Get()
		if ok1 && ok2 && c.Name != "" {
			res.ResourceGroup = def(fmt.Sprintf("MC_%s_%s_%s", rg, c.Name, normRegion(loc)), "nodeResourceGroup", line)
		} else {
			res.ResourceGroup = missing[string]("nodeResourceGroup", line)
			res.ResourceGroup.Note = "the node resource group is named at deployment"
		}
	}
	res.Name = "(outbound IP of " + c.Name + ")"
	res.Ref = controls.ObjectRef{Kind: res.Type, Namespace: res.ResourceGroup.V, Name: res.Name}
	return res
}

// azureDiagnostic reads a diagnostic setting (az CLI, REST or ARM).
func azureDiagnostic(r *reader, n *node, file string) *DiagnosticSetting {
	d := &DiagnosticSetting{File: file, Line: n.line}
	d.Name = r.str(r.walk(n, "", "name"), "", false).V
	props, base := n, ""
	if h := r.walk(n, "", "properties"); h.state == Set && h.n.kind == kObject {
		// REST and ARM leave unset destinations out.
		props, base = h.n, n.keyOf("properties")
		r = &reader{env: r.env, sparse: true}
	}
	d.StorageAccount = r.str(r.walk(props, base, "storageAccountId"), "", true)
	d.Workspace = r.str(r.walk(props, base, "workspaceId"), "", true).V
	logs := r.walk(props, base, "logs")
	if logs.state == Set {
		for i, l := range logs.n.elems() {
			l, why := r.resolve(l)
			lb := fmt.Sprintf("%s[%d]", logs.path, i)
			if why != "" || l == nil {
				d.Logs = append(d.Logs, LogSetting{Enabled: unresolved[bool](lb, logs.line, why)})
				continue
			}
			ls := LogSetting{
				Category:      r.str(r.walk(l, lb, "category"), "", false).V,
				CategoryGroup: r.str(r.walk(l, lb, "categoryGroup"), "", false).V,
				Enabled:       r.boolean(r.walk(l, lb, "enabled"), false, false),
			}
			d.Logs = append(d.Logs, ls)
		}
	}
	return d
}

// azureExtension reads a cluster extension or Flux configuration.
func azureExtension(r *reader, n *node, file string) *Extension {
	e := &Extension{File: file, Line: n.line}
	e.Name = r.str(r.walk(n, "", "name"), "", false).V
	if strings.HasSuffix(strings.ToLower(typeOf(n)), "/fluxconfigurations") {
		e.Type = "fluxConfiguration"
		return e
	}
	t := r.walk(n, "", "extensionType")
	if t.state != Set {
		t = r.walk(n, "", "properties", "extensionType")
	}
	e.Type = r.str(t, "", false).V
	return e
}

// azureResource reads any other Azure resource.
func azureResource(r *reader, n *node, file string) *Resource {
	res := &Resource{File: file, Line: n.line, Type: typeOf(n)}
	name := r.str(r.walk(n, "", "name"), "", false)
	res.Name = name.V
	if name.State != Set {
		res.Name = n.get("name").textOr()
	}
	res.HasLocation = n.has("location")
	if res.HasLocation {
		res.Location = r.str(r.walk(n, "", "location"), "", false)
	}
	id := n.get("id").textOr()
	switch {
	case n.get("resourceGroup").textOr() != "":
		g := n.get("resourceGroup")
		res.ResourceGroup = set(g.str, "resourceGroup", g.line)
	case id != "" && !placeholder(resourceGroupOf(id)):
		res.ResourceGroup = set(resourceGroupOf(id), "id", n.get("id").line)
	default:
		res.ResourceGroup = missing[string]("resourceGroup", n.line)
	}
	t := strings.ToLower(res.Type)
	res.PublicIP = t == "microsoft.network/publicipaddresses" || t == "microsoft.network/publicipprefixes"
	res.Ref = controls.ObjectRef{Kind: res.Type, Namespace: res.ResourceGroup.V, Name: res.Name}
	if env := r.env; env == nil {
		res.Ref.APIVersion = ""
	} else {
		res.Ref.APIVersion = n.get("apiVersion").textOr()
	}
	return res
}
