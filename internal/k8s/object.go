package k8s

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Object is one decoded Kubernetes object and where it was read from.
type Object struct {
	// Content is the object as JSON-compatible Go values: map[string]any,
	// []any, string, bool, json.Number and nil.
	Content map[string]any
	// File is the path the object was read from ("-" for standard input,
	// empty when it did not come from a file).
	File string
	// Line is the 1-based line of the object's first line in File.
	Line int
}

// GroupVersionKind returns the object's apiVersion and kind.
func (o *Object) GroupVersionKind() schema.GroupVersionKind {
	gv, _ := schema.ParseGroupVersion(o.APIVersion())
	return gv.WithKind(o.Kind())
}

// APIVersion returns the object's apiVersion.
func (o *Object) APIVersion() string { return str(o.Content["apiVersion"]) }

// Kind returns the object's kind.
func (o *Object) Kind() string { return str(o.Content["kind"]) }

// Name returns metadata.name (or metadata.generateName when name is empty).
func (o *Object) Name() string {
	m := o.Metadata()
	if n := str(m["name"]); n != "" {
		return n
	}
	return str(m["generateName"])
}

// Namespace returns metadata.namespace.
func (o *Object) Namespace() string { return str(o.Metadata()["namespace"]) }

// Metadata returns the metadata map, or nil.
func (o *Object) Metadata() map[string]any {
	m, _ := o.Content["metadata"].(map[string]any)
	return m
}

// Labels returns metadata.labels as strings.
func (o *Object) Labels() map[string]string { return stringMap(o.Metadata()["labels"]) }

// Annotations returns metadata.annotations as strings.
func (o *Object) Annotations() map[string]string { return stringMap(o.Metadata()["annotations"]) }

// Position renders "file:line" for messages, or "" when unknown.
func (o *Object) Position() string {
	if o.File == "" {
		return ""
	}
	if o.Line > 0 {
		return o.File + ":" + strconv.Itoa(o.Line)
	}
	return o.File
}

// String renders kind/namespace/name.
func (o *Object) String() string {
	var b strings.Builder
	b.WriteString(o.Kind())
	b.WriteByte('/')
	if ns := o.Namespace(); ns != "" {
		b.WriteString(ns)
		b.WriteByte('/')
	}
	b.WriteString(o.Name())
	return b.String()
}

// IsNamespace reports whether the object is a core Namespace.
func (o *Object) IsNamespace() bool {
	gvk := o.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Namespace"
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func stringMap(v any) map[string]string {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, val := range m {
		if s, ok := val.(string); ok {
			out[k] = s
		}
	}
	return out
}
