// Package cluster starts a real, throw-away Kubernetes control plane for
// end-to-end tests: etcd on free loopback ports, kube-apiserver with a token
// file, RBAC and self-signed serving certificates, and on request
// kube-controller-manager. It writes kubeconfigs for the admin and for
// ordinary test users and runs the real kubectl against it.
//
// There is no kubelet and no scheduler: pods are stored and admitted but
// never run. Without the controller-manager nothing creates a namespace's
// default ServiceAccount, so create namespaces with Cluster.CreateNamespace.
//
// The binaries come from the repository's bin/ directory (built by `make
// testcluster` from hack/tools) and etcd from PATH. A missing binary fails
// the test with a message naming the make target; it never skips.
//
// The package also holds what a test needs to let the apiserver call back
// into it: an HTTPS test server with a CA of its own (admission and audit
// webhooks) and the kubeconfig format the apiserver reads webhook
// addresses from. It does not hold the tests themselves.
package cluster
