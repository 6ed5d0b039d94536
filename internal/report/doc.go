// Package report renders a compliance report (the per-requirement summary
// and the findings) as a table, JSON, SARIF 2.1.0 or JUnit XML. It reads
// only controls.Finding and controls.RequirementStatus, so every engine's
// results look the same.
package report
