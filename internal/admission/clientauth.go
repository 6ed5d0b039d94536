package admission

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
)

// WithClientCA returns a copy of cfg that asks for a client certificate and
// verifies any it is given against the CA bundle in caFile. Which paths
// need one is decided by RequireClientCert, so health probes stay open.
func WithClientCA(cfg *tls.Config, caFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("client CA %s: %w", caFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("client CA %s: no PEM certificate in it", caFile)
	}
	out := cfg.Clone()
	out.ClientAuth = tls.VerifyClientCertIfGiven
	out.ClientCAs = pool
	return out, nil
}

// RequireClientCert answers 401 to a request on any path but open that
// did not present a client certificate the TLS handshake verified (the
// API server's, configured through its admission kubeconfig; Prometheus').
func RequireClientCert(h http.Handler, open ...string) http.Handler {
	free := map[string]bool{}
	for _, p := range open {
		free[p] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !free[r.URL.Path] && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
			w.Header().Set("WWW-Authenticate", `Certificate`)
			http.Error(w, "a client certificate signed by the configured client CA is required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
