// Package ingest brings Kubernetes audit events into Bulwark: the HTTPS
// receiver of the kube-apiserver's audit webhook backend, a file source
// that follows the log backend's JSON-lines file across rotation, and the
// pipeline that archives every event first, durably, then indexes it and
// runs the detection rules, whose alerts go to the alert router.
package ingest
