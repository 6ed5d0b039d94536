// Package config reads bulwark.yaml (apiVersion bulwark.dev/v1alpha1, kind
// Config): the site's allow-lists, required labels, exemptions and per-check
// settings shared by every engine. Without a file the embedded defaults
// apply.
package config
