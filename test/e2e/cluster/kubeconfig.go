package cluster

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// kubeconfig renders a kubeconfig (clientcmd v1 Config) with one cluster,
// one user and one context, the current one. caFile is a path; caPEM, when
// set, is embedded instead. token may be empty for a user without
// credentials (the apiserver's webhook kubeconfigs).
func kubeconfig(server, caFile string, caPEM []byte, user, token string) ([]byte, error) {
	cluster := map[string]any{"server": server}
	if len(caPEM) > 0 {
		cluster["certificate-authority-data"] = caPEM // []byte marshals as base64
	} else if caFile != "" {
		cluster["certificate-authority"] = caFile
	}
	credentials := map[string]any{}
	if token != "" {
		credentials["token"] = token
	}
	ctx := user + "@e2e"
	cfg := map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"clusters":        []any{map[string]any{"name": "e2e", "cluster": cluster}},
		"users":           []any{map[string]any{"name": user, "user": credentials}},
		"contexts":        []any{map[string]any{"name": ctx, "context": map[string]any{"cluster": "e2e", "user": user}}},
		"current-context": ctx,
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("render kubeconfig for %s: %w", user, err)
	}
	return b, nil
}

// WriteWebhookKubeconfig writes to path the kubeconfig the apiserver reads a
// webhook's address from (--audit-webhook-config-file, or kubeConfigFile in
// an admission plugin's configuration): url, verified with caPEM, and no
// client credentials.
func WriteWebhookKubeconfig(path, url string, caPEM []byte) error {
	return WriteWebhookKubeconfigWithToken(path, url, caPEM, "")
}

// WriteWebhookKubeconfigWithToken is WriteWebhookKubeconfig with a bearer
// token the apiserver sends to the webhook.
func WriteWebhookKubeconfigWithToken(path, url string, caPEM []byte, token string) error {
	b, err := kubeconfig(url, "", caPEM, "apiserver", token)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write webhook kubeconfig %s: %w", path, err)
	}
	return nil
}
