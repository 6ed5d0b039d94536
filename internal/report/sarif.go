package report

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bulwark-k8s/bulwark/internal/controls"
)

// SARIF 2.1.0, as GitHub code scanning reads it.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string            `json:"id"`
	Name                 string            `json:"name"`
	ShortDescription     sarifText         `json:"shortDescription"`
	FullDescription      sarifText         `json:"fullDescription"`
	Help                 sarifText         `json:"help"`
	DefaultConfiguration sarifRuleConfig   `json:"defaultConfiguration"`
	Properties           sarifRuleProperty `json:"properties"`
}

type sarifRuleConfig struct {
	Level string `json:"level"`
}

type sarifRuleProperty struct {
	Tags             []string `json:"tags"`
	SecuritySeverity string   `json:"security-severity"`
	Precision        string   `json:"precision"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

func sarifLevel(s controls.Severity) string {
	switch s {
	case controls.Critical, controls.High:
		return "error"
	case controls.Medium:
		return "warning"
	}
	return "note"
}

// securitySeverity maps to GitHub's numeric scale (critical > 9, high
// 7-8.9, medium 4-6.9, low 0.1-3.9).
func securitySeverity(s controls.Severity) string {
	switch s {
	case controls.Critical:
		return "9.5"
	case controls.High:
		return "8.0"
	case controls.Medium:
		return "5.5"
	case controls.Low:
		return "3.0"
	}
	return "1.0"
}

func writeSARIF(w io.Writer, r *Report) error {
	rules := map[string]sarifRule{}
	for _, f := range r.Findings {
		if _, ok := rules[f.Check]; ok {
			continue
		}
		ch := controls.Check{ID: f.Check, Title: f.Title, Remediation: f.Remediation, Severity: f.Severity, Requirements: f.Requirements}
		if r.Catalog != nil {
			if c, ok := r.Catalog.Lookup(f.Check); ok {
				ch = c
			}
		}
		full := ch.Title
		if ch.Anchor != "" {
			full += " (corresponds to " + ch.Anchor + ")"
		}
		help := ch.Remediation
		if help == "" {
			help = ch.Title
		}
		rules[f.Check] = sarifRule{
			ID:                   ch.ID,
			Name:                 ruleName(ch.ID),
			ShortDescription:     sarifText{Text: ch.Title},
			FullDescription:      sarifText{Text: full},
			Help:                 sarifText{Text: oneLine(help)},
			DefaultConfiguration: sarifRuleConfig{Level: sarifLevel(ch.Severity)},
			Properties: sarifRuleProperty{
				Tags:             append([]string{"security", "kubernetes"}, ch.Requirements...),
				SecuritySeverity: securitySeverity(ch.Severity),
				Precision:        "high",
			},
		}
	}
	ids := make([]string, 0, len(rules))
	for id := range rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	index := map[string]int{}
	run := sarifRun{
		Tool:    sarifTool{Driver: sarifDriver{Name: toolName(r), Version: r.Version, InformationURI: "https://github.com/bulwark-k8s/bulwark", Rules: []sarifRule{}}},
		Results: []sarifResult{},
	}
	for i, id := range ids {
		index[id] = i
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, rules[id])
	}
	for _, f := range r.Findings {
		res := sarifResult{
			RuleID:    f.Check,
			RuleIndex: index[f.Check],
			Level:     sarifLevel(f.Severity),
			Message:   sarifText{Text: fmt.Sprintf("%s: %s", f.Object, f.Message)},
		}
		loc := sarifLocation{LogicalLocations: []sarifLogical{{Name: f.Object.Name, FullyQualifiedName: f.Object.String(), Kind: "resource"}}}
		if f.File != "" && f.File != "-" {
			loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: sarifArtifact{URI: filepath.ToSlash(filepath.Clean(f.File))}}
			if f.Line > 0 {
				loc.PhysicalLocation.Region = &sarifRegion{StartLine: f.Line}
			}
		}
		res.Locations = []sarifLocation{loc}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs:    []sarifRun{run},
	})
}

func toolName(r *Report) string {
	if r.Tool != "" {
		return r.Tool
	}
	return "bulwark"
}

// ruleName turns BW-K8S-008 into a PascalCase-free stable name.
func ruleName(id string) string {
	return strings.NewReplacer("/", "-", " ", "-").Replace(id)
}
