package admission

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// clientPKI makes a CA and a client certificate it signed.
func clientPKI(t *testing.T) (caPEM []byte, client tls.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	ckey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ctpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	cDER, err := x509.CreateCertificate(rand.Reader, ctpl, caCert, &ckey.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{cDER}, PrivateKey: ckey}
}

func TestRequireClientCert(t *testing.T) {
	caPEM, client := clientPKI(t)
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	_, otherClient := clientPKI(t) // signed by a CA the server does not trust

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/validate", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("reviewed")) })
	srv := httptest.NewUnstartedServer(RequireClientCert(mux, "/healthz", "/readyz"))
	srv.StartTLS()
	defer srv.Close()
	cfg, err := WithClientCA(srv.TLS, caFile)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS.ClientAuth, srv.TLS.ClientCAs = cfg.ClientAuth, cfg.ClientCAs

	get := func(path string, cert *tls.Certificate) (int, error) {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		if cert != nil {
			tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
		}
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL + path)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get("/healthz", nil); err != nil || code != 200 {
		t.Errorf("probe without certificate: %d %v", code, err)
	}
	if code, err := get("/validate", nil); err != nil || code != http.StatusUnauthorized {
		t.Errorf("review without certificate: %d %v, want 401", code, err)
	}
	if code, err := get("/validate", &client); err != nil || code != 200 {
		t.Errorf("review with the API server's certificate: %d %v", code, err)
	}
	if _, err := get("/validate", &otherClient); err == nil {
		t.Error("a certificate from an unknown CA was accepted")
	}
	if _, err := WithClientCA(srv.TLS, filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("missing CA file accepted")
	}
}
