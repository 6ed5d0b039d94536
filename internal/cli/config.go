package cli

import "github.com/bulwark-k8s/bulwark/internal/config"

// loadConfig reads --config, or returns the embedded defaults.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}
