package controls

// Requirement is one row of the compliance report.
type Requirement struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Technology is what the seed design used to meet the requirement.
	Technology string `json:"technology,omitempty"`
}

// Custom is the requirement ID under which findings of user policies that
// name no requirement are reported.
const Custom = "CUSTOM"

// Requirements returns the baseline's requirements in report order.
func Requirements() []Requirement {
	return []Requirement{
		{"REQ-01", "Leverage the existing identity provider", "Azure AD"},
		{"REQ-02", "Least privilege", "AAD + ARM RBAC + Kubernetes RBAC per namespace"},
		{"REQ-03", "Log everything for audit reporting", "Azure Monitor, Azure Storage"},
		{"REQ-04", "Security controls stay in place (no drift)", "Flux, Git"},
		{"REQ-05a", "Alert on a shell/exec into a container", "Falco + Azure Monitor"},
		{"REQ-05b", "Alert when the cluster API has no IP allow-list", "Azure Security Center"},
		{"REQ-06", "Integrate with the existing SIEM", "Azure Security Center / Sentinel"},
		{"REQ-07", "Existing VNET, ingress and egress restricted", "Azure VNET, Azure Firewall"},
		{"REQ-08", "Resources only in allowed regions", "Azure Policy"},
		{"REQ-09", "Container registry allow-list", "OPA Gatekeeper"},
		{"REQ-10", "Chargeback to line of business", "Kubecost"},
		{"REQ-11", "Secrets management", "AAD Pod Identity + Key Vault"},
		{"REQ-12", "Container image management", "Anchore"},
		{"REQ-13", "Restrict creation of public IPs", "Azure Policy"},
		{"REQ-14", "Deploy the image-processing application, monitored", "App Insights, Azure Monitor"},
		{"REQ-15", "Roll out new versions easily, no downtime", "Kubernetes"},
		{"PRAC-PSS", "Pod security (Pod Security Standards)", "PodSecurityPolicy replacements"},
		{"PRAC-PULL", "AlwaysPullImages for multi-tenant clusters", "admission controller"},
		{"PRAC-SANDBOX", "Container sandboxes (gVisor, Kata)", "RuntimeClass"},
		{"PRAC-API", "Restrict API server access; private cluster", "AKS"},
		{"PRAC-UPGRADE", "Patch and upgrade nodes", "kured, upgrade channels"},
		{"PRAC-DASH", "Disable the Kubernetes dashboard", "AKS"},
		{"PRAC-THREAT", "Threat detection", "Defender / Security Center"},
		{"PRAC-INGRESS", "Expose services securely (WAF ingress, HTTPS)", "Application Gateway, ingress"},
		{"PRAC-NETPOL", "Network segmentation", "Calico / Azure NPM"},
	}
}

// LookupRequirement returns the requirement with the given ID.
func LookupRequirement(id string) (Requirement, bool) {
	for _, r := range Requirements() {
		if r.ID == id {
			return r, true
		}
	}
	return Requirement{}, false
}
