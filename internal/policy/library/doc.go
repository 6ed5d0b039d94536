// Package library is Bulwark's built-in policy library: one folder per
// check, each with a Gatekeeper ConstraintTemplate (or a shared one), the
// default constraint carrying the check's catalog annotations, a test suite
// in gator verify format and its sample objects. The folders are embedded
// in the binary.
//
// Install adds the library to an engine with the site configuration
// applied: allow-lists become constraint parameters, exempt namespaces
// become excludedNamespaces, and per-check settings override the
// enforcement action or disable the check.
package library
