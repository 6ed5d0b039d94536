package posture

import (
	"bytes"
	"fmt"
	"strings"
)

// ShapeError is a well-formed JSON file that is none of the accepted
// shapes.
type ShapeError struct {
	File   string
	Line   int
	Reason string
}

// Error names the file and lists the accepted shapes.
func (e *ShapeError) Error() string {
	pos := e.File
	if e.Line > 0 {
		pos = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	return fmt.Sprintf("%s: %s; accepted inputs are: %s", pos, e.Reason, acceptedShapes)
}

// Option configures Parse.
type Option func(*options)

type options struct {
	params Parameters
}

// WithParameters gives ARM template parameter values (from a deployment
// parameters file); parameters without one take their defaultValue.
func WithParameters(p Parameters) Option {
	return func(o *options) {
		if o.params == nil {
			o.params = Parameters{}
		}
		for k, v := range p {
			o.params[strings.ToLower(k)] = v
		}
	}
}

// Sniff reports whether data looks like one of the posture shapes, cheaply
// enough to ask of every JSON file a scan is given. It never claims a
// Kubernetes manifest.
func Sniff(data []byte) bool {
	t := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return false
	}
	lower := bytes.ToLower(data)
	markers := [][]byte{
		[]byte("microsoft.containerservice/managedclusters"),
		[]byte("deploymenttemplate.json"),
		[]byte(`"terraform_version"`),
		[]byte("microsoft.insights/diagnosticsettings"),
		[]byte("microsoft.kubernetesconfiguration/"),
		[]byte(`"contentversion"`),
		[]byte("/subscriptions/"),
	}
	found := false
	for _, m := range markers {
		if bytes.Contains(lower, m) {
			found = true
			break
		}
	}
	if !found {
		return false
	}
	root, err := parseJSON("", data)
	if err != nil {
		return false
	}
	_, err = detect("", root)
	return err == nil
}

// Parse reads one file in any accepted shape into an Input. Malformed
// JSON is a *SyntaxError (file:line:column); JSON of no accepted shape is
// a *ShapeError naming the file and listing the shapes.
func Parse(file string, data []byte, opts ...Option) (*Input, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	root, err := parseJSON(file, data)
	if err != nil {
		return nil, err
	}
	sh, err := detect(file, root)
	if err != nil {
		return nil, err
	}
	switch sh {
	case ShapeARM:
		return parseARM(file, root, o.params), nil
	case ShapeTerraform:
		return parseTerraform(file, root), nil
	}
	return parseAzure(file, root, sh)
}

// item kinds of Azure JSON (az CLI and REST).
type itemKind int

const (
	itemNone itemKind = iota
	itemAzCluster
	itemRESTCluster
	itemDiagnostic
	itemExtension
	itemResource
)

func classify(n *node) itemKind {
	if n == nil || n.kind != kObject {
		return itemNone
	}
	t := strings.ToLower(typeOf(n))
	switch {
	case t == strings.ToLower(clusterType):
		if p := n.get("properties"); p != nil && p.kind == kObject {
			return itemRESTCluster
		}
		return itemAzCluster
	case t == "microsoft.insights/diagnosticsettings":
		return itemDiagnostic
	case t == "microsoft.kubernetesconfiguration/extensions" || t == "microsoft.kubernetesconfiguration/fluxconfigurations":
		return itemExtension
	case t == "" && n.has("logs") && (n.has("storageAccountId") || n.has("workspaceId") || n.has("eventHubAuthorizationRuleId")):
		return itemDiagnostic
	case t == "" && n.has("extensionType") && strings.Contains(strings.ToLower(n.get("id").textOr()), "/providers/microsoft.kubernetesconfiguration/"):
		return itemExtension
	case strings.Contains(t, "/") && strings.HasPrefix(strings.ToLower(n.get("id").textOr()), "/subscriptions/"):
		return itemResource
	}
	return itemNone
}

// detect decides a document's shape.
func detect(file string, root *node) (Shape, error) {
	switch {
	case isARMParameters(root):
		return "", &ShapeError{File: file, Line: root.line, Reason: "an ARM deployment parameters file is not an input on its own (pass it with --parameters)"}
	case isARMTemplate(root):
		return ShapeARM, nil
	case isTerraform(root):
		return ShapeTerraform, nil
	}
	items := []*node{root}
	switch {
	case root.kind == kArray:
		items = root.vals
	case root.kind == kObject && root.get("value") != nil && root.get("value").kind == kArray && classify(root) == itemNone:
		items = root.get("value").vals
	case root.kind != kObject:
		return "", &ShapeError{File: file, Line: root.line, Reason: fmt.Sprintf("a JSON %s is not a posture input", root.kind)}
	}
	counts := map[itemKind]int{}
	for i, it := range items {
		k := classify(it)
		if k == itemNone {
			if root.kind == kObject && len(items) == 1 && it == root {
				return "", &ShapeError{File: file, Line: root.line, Reason: "the JSON object is not a posture input" + hint(root)}
			}
			return "", &ShapeError{File: file, Line: it.line, Reason: fmt.Sprintf("element %d of the list is not a posture input%s", i, hint(it))}
		}
		counts[k]++
	}
	switch {
	case counts[itemAzCluster] > 0:
		return ShapeAzCLI, nil
	case counts[itemRESTCluster] > 0:
		return ShapeREST, nil
	case counts[itemDiagnostic] > 0:
		return ShapeDiagnostics, nil
	case counts[itemExtension] > 0:
		return ShapeExtensions, nil
	case counts[itemResource] > 0:
		return ShapeResources, nil
	}
	// An empty list: az prints [] when there is nothing to list.
	return ShapeResources, nil
}

// hint says why a near miss is not accepted.
func hint(n *node) string {
	if n == nil || n.kind != kObject {
		return ""
	}
	if n.has("apiVersion") && n.has("kind") && !n.has("type") {
		return " (it looks like a Kubernetes manifest: scan it with bulwark scan)"
	}
	if t := typeOf(n); t != "" {
		return fmt.Sprintf(" (type %q)", t)
	}
	return ""
}

// parseAzure reads az CLI and REST JSON: one resource or a list.
func parseAzure(file string, root *node, sh Shape) (*Input, error) {
	in := &Input{File: file, Shape: sh}
	items := []*node{root}
	// A list output (az ... list) holds all of a cluster's settings or
	// extensions; a single one (az ... show) does not.
	list := false
	switch {
	case root.kind == kArray:
		items, list = root.vals, true
	case root.get("value") != nil && root.get("value").kind == kArray && classify(root) == itemNone:
		items, list = root.get("value").vals, true
	}
	r := &reader{}
	for _, it := range items {
		switch classify(it) {
		case itemAzCluster:
			in.Clusters = append(in.Clusters, azureCluster(it, ShapeAzCLI, nil, file))
		case itemRESTCluster:
			in.Clusters = append(in.Clusters, azureCluster(it, ShapeREST, nil, file))
		case itemDiagnostic:
			d := azureDiagnostic(r, it, file)
			d.target = parseID(it.get("id").textOr())
			d.complete = list
			in.Diagnostics = append(in.Diagnostics, d)
		case itemExtension:
			e := azureExtension(r, it, file)
			e.target = parseID(it.get("id").textOr())
			e.complete = list
			in.Extensions = append(in.Extensions, e)
		case itemResource:
			in.Resources = append(in.Resources, azureResource(r, it, file))
		}
	}
	return in, nil
}
