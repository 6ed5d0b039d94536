// Package verify runs policy test suites in OPA Gatekeeper's `gator verify`
// format (kind Suite, apiVersion test.gatekeeper.sh/v1alpha1): each test
// pairs a ConstraintTemplate with a constraint, and each case reviews one
// object (or an AdmissionReview) with an optional inventory and asserts on
// the violations.
package verify
