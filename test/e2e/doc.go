// Package e2e holds Bulwark's end-to-end tests. They run against a real
// control plane (etcd, kube-apiserver, optionally kube-controller-manager)
// started by package cluster and are driven by the real kubectl.
//
// The tests carry the build tag e2e so that `go test ./...` does not need
// the control plane; run them with `make test-e2e`, which builds it first.
// With the tag set, a missing binary fails the test (it never skips).
package e2e
