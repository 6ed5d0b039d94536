// Package netpol computes the connectivity Kubernetes NetworkPolicies allow:
// between workloads, between namespaces, and to and from addresses outside
// the cluster (ipBlock CIDRs and "the internet"), and reports findings about
// it (checks BW-ANL-050 to BW-ANL-053, requirements REQ-07 and PRAC-NETPOL).
//
// Parse reads Namespaces, NetworkPolicies and workloads (every kind with a
// pod template, and bare Pods) from manifests, validating policies as the
// API server does. Analyze (the function) is the entry point for bulwark
// scan; New builds an Analysis, which answers Reach questions for any pair
// of endpoints and lists connections and the namespace matrix.
//
// Semantics are those of the NetworkPolicy API: a pod selected by no policy
// of a type is not isolated for that direction; a connection is allowed
// only when the source's egress and the destination's ingress both allow
// it; ipBlock peers match only addresses outside the cluster (pod IPs are
// matched by selectors, as with most network plugins). The package does not
// model Services, node or host-network traffic, or plugin extensions (Calico
// or Cilium policies, AdminNetworkPolicy).
package netpol
