// Package policy is Bulwark's admission and scan engine. It loads OPA
// Gatekeeper ConstraintTemplates and constraints unchanged, matches
// constraints to objects with Gatekeeper's match semantics, builds the
// Rego input exactly as Gatekeeper does (input.review, input.parameters,
// data.inventory) and evaluates the templates' violation rules.
//
// Templates are compiled once; Review is safe for concurrent use and bounded
// in time. Pod policies also judge every workload that carries a pod
// template: the engine reviews the Pod the workload implies and reports the
// violation against the workload.
//
// The package does not decide what a violation means for a report or an
// admission response; callers turn Results into findings or verdicts.
package policy
