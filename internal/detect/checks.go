package detect

import (
	"fmt"
	"strings"
	"sync"

	"github.com/bulwark-k8s/bulwark/internal/controls"
)

// checkDoc is what the catalog needs beyond the rule itself.
type checkDoc struct {
	remediation string
	// anchor names the equivalent Falco k8saudit rule, if there is one.
	anchor string
}

var checkDocs = map[string]checkDoc{
	"BW-DET-001": {
		"Confirm the exec was expected. Grant pods/exec only to break-glass roles (BW-K8S RBAC checks), prefer ephemeral debug workflows with approval, and add known operators to the rule's known_exec_users exception per namespace.",
		"Falco k8saudit rule \"Attach/Exec Pod\"",
	},
	"BW-DET-002": {
		"Confirm the attach was expected; restrict pods/attach to break-glass roles and add known operators to the known_attach_users exception.",
		"Falco k8saudit rule \"Attach/Exec Pod\"",
	},
	"BW-DET-003": {
		"Confirm the port-forward was expected; restrict pods/portforward and expose services through reviewed Ingresses instead.",
		"Falco k8saudit rule \"port-forward\"",
	},
	"BW-DET-004": {
		"Confirm the debug session was expected; restrict pods/ephemeralcontainers to break-glass roles.",
		"Falco k8saudit rule \"EphemeralContainers Created\"",
	},
	"BW-DET-005": {
		"Remove privileged: true (use specific capabilities), enforce Pod Security Standards baseline at admission, and list trusted system images in the trusted_privileged_images exception.",
		"Falco k8saudit rule \"Create Privileged Pod\"",
	},
	"BW-DET-006": {
		"Remove the hostPath volume (use a PersistentVolume, a ConfigMap or a CSI driver); enforce Pod Security Standards baseline, which forbids hostPath.",
		"Falco k8saudit rule \"Create Sensitive Mount Pod\"",
	},
	"BW-DET-007": {
		"Remove hostNetwork, hostPID and hostIPC; enforce Pod Security Standards baseline at admission.",
		"Falco k8saudit rules \"Create HostNetwork Pod\", \"Create HostPid Pod\", \"Create HostIPC Pod\"",
	},
	"BW-DET-008": {
		"Delete the binding unless it is an approved break-glass grant; bind namespaced roles to groups from the identity provider instead (REQ-02).",
		"Falco k8saudit rule \"Attach to cluster-admin Role\"",
	},
	"BW-DET-009": {
		"Replace wildcards with the verbs and resources needed; keep pods/exec, escalate, bind and impersonate out of everyday roles.",
		"Falco k8saudit rules \"ClusterRole With Wildcard Created\", \"ClusterRole With Pod Exec Created\"",
	},
	"BW-DET-010": {
		"Remove bindings that grant access to system:anonymous or system:unauthenticated, or disable anonymous authentication (--anonymous-auth=false).",
		"Falco k8saudit rule \"Anonymous Request Allowed\"",
	},
	"BW-DET-011": {
		"Confirm the reader needs the secret; remove get/list/watch on secrets from roles that do not, mount secrets through the Secrets Store CSI driver, and list legitimate readers in the secretReaders option.",
		"Falco k8saudit rule \"K8s Secret Get Successfully\"",
	},
	"BW-DET-012": {
		"Restrict the API server to the allowed ranges (AKS authorized IP ranges or a private cluster); investigate requests from unknown addresses.",
		"",
	},
	"BW-DET-013": {
		"Make the LoadBalancer internal (service.beta.kubernetes.io/azure-load-balancer-internal: \"true\"), use ClusterIP behind an Ingress instead of NodePort, drop externalIPs, or list the namespace in the allowed_public_namespaces exception.",
		"Falco k8saudit rule \"Create NodePort Service\"",
	},
	"BW-DET-014": {
		"Remove the dashboard; use kubectl or the cloud console with identity-provider sign-in instead.",
		"",
	},
	"BW-DET-015": {
		"Move the workload to its own namespace; kube-system is for the cluster's components.",
		"Falco k8saudit rule \"Pod Created in Kube Namespace\"",
	},
	"BW-DET-016": {
		"Restore Bulwark's webhook configuration (redeploy Bulwark), find who changed it, and limit write access to admissionregistration.k8s.io.",
		"",
	},
}

var defaultChecks = sync.OnceValues(buildChecks)

// Checks returns the catalog entries of Bulwark's default detection rules:
// one per BW-DET rule, with the requirements and severity taken from the
// rule's tags and priority.
func Checks() []controls.Check {
	checks, err := defaultChecks()
	if err != nil {
		panic(fmt.Sprintf("embedded detection rules: %v", err)) // a build defect, caught by tests
	}
	return append([]controls.Check(nil), checks...)
}

func buildChecks() ([]controls.Check, error) {
	rs := newRuleset()
	rs.parseRules(DefaultRulesFile, defaultRules)
	if len(rs.errs) > 0 {
		return nil, rs.errs[0]
	}
	var out []controls.Check
	for _, r := range rs.rules {
		id := checkID(r.tags)
		if id == "" {
			continue
		}
		doc, ok := checkDocs[id]
		if !ok {
			return nil, fmt.Errorf("rule %q: no catalog entry for %s", r.name, id)
		}
		out = append(out, controls.Check{
			ID:           id,
			Requirements: requirementIDs(r.tags),
			Severity:     r.priority.Severity(),
			Title:        strings.TrimSpace(strings.TrimPrefix(r.name, id)),
			Remediation:  doc.remediation,
			Anchor:       doc.anchor,
			Engine:       controls.EngineDetect,
		})
	}
	return out, nil
}
