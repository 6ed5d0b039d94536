// Package k8s decodes Kubernetes manifests into objects that remember where
// they came from (file and line), and extracts pod specs from every workload
// kind that carries one.
//
// It reads files, directories (recursively), standard input, multi-document
// YAML, JSON (single objects, arrays, streams) and List kinds. It does not
// talk to a cluster and does not know about policies.
package k8s
