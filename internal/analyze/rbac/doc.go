// Package rbac resolves Kubernetes RBAC the way the API server's RBAC
// authorizer does, from manifests or a live cluster: the effective
// permissions of every subject, who can do a given thing, whether a given
// user can (the answer of kubectl auth can-i), and findings about
// dangerous permissions (checks BW-ANL-001 to BW-ANL-010, requirement
// REQ-02).
//
// A Snapshot holds Roles, ClusterRoles (aggregated ones resolved from their
// aggregationRule over the loaded ClusterRoles), RoleBindings and
// ClusterRoleBindings. Snapshot.Authorize answers one request exactly as
// the RBAC authorizer (plus the system:masters privileged group that
// kube-apiserver always puts before it) would; Snapshot.WhoCan lists the
// grants that allow a request; Snapshot.Permissions lists every subject's
// grants; Analyze returns findings and coverage for bulwark scan.
//
// The package does not talk to the cluster except through FromCluster, and
// does not know about other authorizers (Node, webhooks, ABAC).
package rbac
