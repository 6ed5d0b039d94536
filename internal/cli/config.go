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
// collector works harder near it instead of letting the heap double.
const scanMemoryLimit = 224 << 20

// limitMemory sets the soft memory limit unless GOMEMLIMIT chose one.
func limitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(scanMemoryLimit)
	}
}
