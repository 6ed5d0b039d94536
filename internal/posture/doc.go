// Package posture checks the configuration of Azure Kubernetes Service
// clusters against the secure-cluster baseline: identity (Entra ID, Azure
// RBAC, local accounts), API server exposure, audit logs, network
// isolation and egress, regions, public IPs, secrets, image hygiene,
// threat detection and upgrades.
//
// It reads the cluster's configuration in any of the shapes it exists in:
// `az aks show` output (live), the REST API's managedCluster resource, an
// ARM template or resource-group export (before deploy, with a small ARM
// expression evaluator), and a Terraform plan as JSON (before apply), plus
// `az monitor diagnostic-settings list` and `az k8s-extension list`
// output. Parse normalises each into the same Cluster, so a check sees the
// same values whichever shape described the cluster; Evaluate runs the
// checks and returns controls.Findings (engine "posture") and the
// coverage that tells passed from not assessed.
//
// A setting the input does not give (a missing field, an ARM expression
// known only at deployment, a Terraform value known only after apply) is
// never taken as a pass: the check is reported not assessed, naming the
// field.
//
// The package does not call Azure: it reads files produced by az, ARM
// tooling and Terraform.
package posture
