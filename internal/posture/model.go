package posture

import (
	"strings"

	"github.com/bulwark-k8s/bulwark/internal/controls"
)

// Shape names an accepted input shape.
type Shape string

// The accepted shapes.
const (
	// ShapeAzCLI is `az aks show -o json` (or `az aks list`): properties
	// flattened to the top level, every attribute printed (null when unset).
	ShapeAzCLI Shape = "az aks show"
	// ShapeREST is the Azure REST API's managedCluster resource (GET body,
	// `az rest`, Resource Graph): settings under "properties", unset fields
	// left out.
	ShapeREST Shape = "Azure REST resource"
	// ShapeARM is an ARM deployment template or a resource-group export.
	ShapeARM Shape = "ARM template"
	// ShapeTerraform is `terraform show -json` of a plan (or of a state).
	ShapeTerraform Shape = "Terraform plan"
	// ShapeDiagnostics is `az monitor diagnostic-settings list` (or show).
	ShapeDiagnostics Shape = "az monitor diagnostic-settings"
	// ShapeExtensions is `az k8s-extension list` or `az k8s-configuration
	// flux list`.
	ShapeExtensions Shape = "az k8s-extension"
	// ShapeResources is a list of Azure resources (`az resource list`).
	ShapeResources Shape = "az resource list"
)

// acceptedShapes is the list printed when an input is none of them.
const acceptedShapes = `az aks show / az aks list -o json; an Azure REST managedCluster resource ({"type":"Microsoft.ContainerService/managedClusters","properties":{...}}) or a list of them ({"value":[...]}); an ARM template or resource-group export ("$schema": ".../deploymentTemplate.json#"); a Terraform plan or state as JSON (terraform show -json); az monitor diagnostic-settings list; az k8s-extension list / az k8s-configuration flux list; az resource list`

// Input is one parsed file: the clusters and other resources it
// describes, normalised from whichever shape it has.
type Input struct {
	File  string
	Shape Shape
	// Clusters are the managed clusters the file describes.
	Clusters []*Cluster
	// Resources are the other Azure resources (for region and public IP
	// checks), including those with no cluster in the same file.
	Resources []*Resource
	// Diagnostics, Extensions and Pools belong to a cluster; those whose
	// cluster is in another file are linked by Evaluate.
	Diagnostics []*DiagnosticSetting
	Extensions  []*Extension
	Pools       []*Pool
}

// Objects counts what the input describes.
func (in *Input) Objects() int {
	return len(in.Clusters) + len(in.Resources) + len(in.Diagnostics) + len(in.Extensions)
}

// Cluster is the normalised configuration of one AKS managed cluster. The
// same cluster described as `az aks show` output, an ARM template or a
// Terraform plan normalises to the same values.
type Cluster struct {
	Name string
	// ID is the Azure resource ID when known.
	ID            string
	ResourceGroup Value[string]
	// Shape is the shape the cluster was read from; File and Line where.
	Shape Shape
	File  string
	Line  int
	// Ref names the cluster in findings.
	Ref controls.ObjectRef
	// Address is the Terraform resource address.
	Address string

	Location          Value[string]
	KubernetesVersion Value[string]
	// SupportPlan is KubernetesOfficial or AKSLongTermSupport.
	SupportPlan Value[string]

	AADManaged            Value[bool]
	AzureRBAC             Value[bool]
	LocalAccountsDisabled Value[bool]
	RBAC                  Value[bool]

	AuthorizedIPRanges       Value[[]string]
	PrivateCluster           Value[bool]
	PrivateClusterPublicFQDN Value[bool]

	Defender Value[bool]

	NetworkPlugin Value[string]
	NetworkPolicy Value[string]
	OutboundType  Value[string]
	// NodeResourceGroup holds the resources AKS creates (load balancer
	// and NAT gateway public IPs).
	NodeResourceGroup Value[string]
	// EgressIPs are the public IPs the cluster's egress uses: the load
	// balancer's effective outbound IPs (az aks show), the ones it was
	// given, or the managed ones AKS creates for outboundType loadBalancer
	// or managedNATGateway.
	EgressIPs Value[[]*Resource]

	// Pools are the agent pools; PoolsField says where they were read.
	Pools      []*Pool
	PoolsField Value[bool]

	AzurePolicy             Value[bool]
	KeyVaultSecretsProvider Value[bool]
	SecretRotation          Value[bool]
	WorkloadIdentity        Value[bool]
	OIDCIssuer              Value[bool]
	KMS                     Value[bool]
	ImageCleaner            Value[bool]
	Dashboard               Value[bool]

	UpgradeChannel       Value[string]
	NodeOSUpgradeChannel Value[string]

	// Diagnostics are the cluster's diagnostic settings found in the
	// inputs. DiagnosticsComplete is true when an input lists all of them
	// (az monitor diagnostic-settings list), so their absence is known.
	Diagnostics         []*DiagnosticSetting
	DiagnosticsComplete bool
	// Extensions are the cluster extensions and Flux configurations found
	// in the inputs; ExtensionsComplete as for Diagnostics.
	Extensions         []*Extension
	ExtensionsComplete bool

	// Inventory are the other resources assessed with this cluster
	// (location, public IPs): those of its file that belong to no other
	// cluster.
	Inventory []*Resource

	// standalone marks a pseudo-cluster holding only the inventory of a
	// file without a cluster; only inventory checks run on it.
	standalone bool
}

// Pool is one agent (node) pool.
type Pool struct {
	Name                string
	VnetSubnetID        Value[string]
	NodePublicIP        Value[bool]
	OrchestratorVersion Value[string]
	File                string
	Line                int
	// cluster is the pool's cluster when it is a separate resource (ARM
	// agentPools, azurerm_kubernetes_cluster_node_pool).
	cluster *Cluster
	target  ref
}

// Resource is an Azure resource other than a cluster (or a resource a
// cluster creates), for the region and public IP checks.
type Resource struct {
	// Type is the ARM resource type (Terraform types are mapped to it
	// where known).
	Type          string
	Name          string
	ResourceGroup Value[string]
	// Location is Missing for resources without a location field.
	Location Value[string]
	PublicIP bool
	// Implied explains a resource the input does not declare but the
	// cluster's configuration creates.
	Implied string
	File    string
	Line    int
	Ref     controls.ObjectRef
	// HasLocation is false for resource types without a location
	// (extension resources, subnets); they are not region-checked.
	HasLocation bool
}

// DiagnosticSetting is one diagnostic setting of a cluster.
type DiagnosticSetting struct {
	Name string
	Logs []LogSetting
	// StorageAccount is the destination storage account ID.
	StorageAccount Value[string]
	// Workspace is the Log Analytics destination, for messages.
	Workspace string
	File      string
	Line      int
	// complete marks a setting from a list of all of a cluster's settings.
	complete bool
	cluster  *Cluster
	target   ref
}

// LogSetting is one log category (or category group) of a setting.
type LogSetting struct {
	Category      string
	CategoryGroup string
	Enabled       Value[bool]
}

// Extension is a cluster extension or a Flux configuration.
type Extension struct {
	Name string
	// Type is the extension type ("microsoft.flux") or, for a Flux
	// configuration, "fluxConfiguration".
	Type     string
	File     string
	Line     int
	complete bool
	cluster  *Cluster
	target   ref
}

// ref identifies a cluster an item belongs to when it is not resolved
// within its own file.
type ref struct {
	ID            string
	Subscription  string
	ResourceGroup string
	Name          string
}

// parseID splits an Azure resource ID into subscription, resource group,
// and the name of the managedClusters resource it is, or is under.
func parseID(id string) ref {
	r := ref{ID: id}
	parts := strings.Split(strings.Trim(id, "/"), "/")
	for i := 0; i+1 < len(parts); i++ {
		switch strings.ToLower(parts[i]) {
		case "subscriptions":
			r.Subscription = parts[i+1]
		case "resourcegroups":
			r.ResourceGroup = parts[i+1]
		case "managedclusters":
			if r.Name == "" {
				r.Name = parts[i+1]
			}
		}
	}
	return r
}

// resourceGroupOf returns the resource group of an ID, or "".
func resourceGroupOf(id string) string { return parseID(id).ResourceGroup }

// lastSegment returns the last path segment of an ID.
func lastSegment(id string) string {
	id = strings.TrimRight(id, "/")
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		return id[i+1:]
	}
	return id
}

// placeholder reports a part of an ID that an ARM template leaves to the
// deployment ("{resourceGroup}").
func placeholder(s string) bool { return s == "" || strings.HasPrefix(s, "{") }

// matches reports whether r names c.
func (r ref) matches(c *Cluster) bool {
	if r.Name == "" || !strings.EqualFold(r.Name, c.Name) {
		return false
	}
	cr := parseID(c.ID)
	if rg, ok := c.ResourceGroup.Get(); ok && cr.ResourceGroup == "" {
		cr.ResourceGroup = rg
	}
	if !placeholder(r.ResourceGroup) && !placeholder(cr.ResourceGroup) && !strings.EqualFold(r.ResourceGroup, cr.ResourceGroup) {
		return false
	}
	if !placeholder(r.Subscription) && !placeholder(cr.Subscription) && !strings.EqualFold(r.Subscription, cr.Subscription) {
		return false
	}
	return true
}

const clusterType = "Microsoft.ContainerService/managedClusters"

// normRegion normalises a location: "East US 2" and "eastus2" are the same.
func normRegion(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), ""))
}
