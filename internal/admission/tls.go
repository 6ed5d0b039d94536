package admission

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Certificates provide the serving certificate of bulwark's HTTPS server
// and keep it current: CertFiles reloads files another tool rotates,
// CertManager issues and rotates its own. Run keeps the certificate
// current until ctx ends; GetCertificate is tls.Config's.
type Certificates interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	Run(ctx context.Context) error
}

// ServerTLS is the TLS configuration of bulwark's HTTPS server: TLS 1.2 or
// newer, the certificate from certs.
func ServerTLS(certs Certificates) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: certs.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// CertFiles serves a certificate and key from PEM files, reloading them
// when they change (cert-manager, a mounted Secret).
type CertFiles struct {
	CertFile, KeyFile string
	// Interval between checks for changed files; zero means 30s.
	Interval time.Duration
	Logger   *slog.Logger

	mu      sync.RWMutex
	cert    *tls.Certificate
	modTime time.Time
}

// LoadCertFiles reads the files once; an error means they cannot serve.
func LoadCertFiles(certFile, keyFile string, log *slog.Logger) (*CertFiles, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &CertFiles{CertFile: certFile, KeyFile: keyFile, Logger: log}
	if _, err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// GetCertificate returns the current certificate.
func (c *CertFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.cert, nil
}

// reload reads the files when either changed since the last read.
func (c *CertFiles) reload() (bool, error) {
	var latest time.Time
	for _, f := range []string{c.CertFile, c.KeyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return false, fmt.Errorf("serving certificate: %w", err)
		}
		if st.ModTime().After(latest) {
			latest = st.ModTime()
		}
	}
	c.mu.RLock()
	same := c.cert != nil && latest.Equal(c.modTime)
	c.mu.RUnlock()
	if same {
		return false, nil
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return false, fmt.Errorf("serving certificate %s, key %s: %w", c.CertFile, c.KeyFile, err)
	}
	c.mu.Lock()
	c.cert, c.modTime = &cert, latest
	c.mu.Unlock()
	return true, nil
}

// Run reloads the files when they change until ctx ends. A failed reload
// keeps the previous certificate.
func (c *CertFiles) Run(ctx context.Context) error {
	interval := c.Interval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			changed, err := c.reload()
			switch {
			case err != nil:
				c.Logger.Error("certificate_reload_failed", "error", err)
			case changed:
				c.Logger.Info("certificate_reloaded", "cert_file", c.CertFile)
			}
		}
	}
}

var _ Certificates = (*CertFiles)(nil)
