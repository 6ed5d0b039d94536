package cli

import (
	"os"
	"runtime/debug"

	"github.com/bulwark-k8s/bulwark/internal/config"
)

// loadConfig reads --config, or returns the embedded defaults.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

// scanMemoryLimit is the soft heap limit of one-shot commands: the garbage
// collector works harder near it instead of letting the heap double. A
// process's resident memory is this (heap and runtime) plus the pages of
// the binary it touches, 50-70 MB: 208 MiB keeps a 10,000-object scan
// under 300 MB with room to spare.
const scanMemoryLimit = 208 << 20

// scanGCPercent is the GOGC of one-shot commands: a large scan's live
// heap (objects, their Rego form, the compiled library) is 80-110 MB, so
// at GOGC=100 the collector would run at about twice that, well before the
// memory limit; at 300 it runs when the limit says so, and a small scan's
// heap stays small anyway.
const scanGCPercent = 300

// limitMemory sets the soft memory limit and the GC percentage, unless
// GOMEMLIMIT or GOGC chose them.
func limitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(scanMemoryLimit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(scanGCPercent)
	}
}
