// Package cli is Bulwark's command line: one file per verb, each a thin
// shell that parses flags and calls a library package. Only Main exits.
package cli
