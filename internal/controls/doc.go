// Package controls holds Bulwark's control catalog: the requirements of the
// secure-cluster baseline (REQ-01..REQ-15 and the PRAC-* practices), the
// checks that meet them, the one Finding type every engine produces, and the
// compliance summary computed from findings.
//
// It does not evaluate anything itself; engines (policy, posture, detect,
// analyze) register their checks and return findings and coverage.
package controls
