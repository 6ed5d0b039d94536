// Package scan runs Bulwark's engines over manifests: it loads the inputs,
// separates policies (ConstraintTemplates, constraints) from the objects to
// judge, installs the built-in library with the site configuration, builds
// the inventory, reviews every object concurrently and turns violations into
// findings with their coverage.
package scan
