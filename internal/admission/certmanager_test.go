package admission

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"
)

func TestCertRenewal(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	m := NewCertManager(CertManagerOptions{
		Hosts:        []string{"bulwark.bulwark-system.svc", "127.0.0.1"},
		CAValidity:   90 * 24 * time.Hour,
		CertValidity: 30 * 24 * time.Hour,
	})
	m.now = func() time.Time { return now }
	data := map[string][]byte{}
	if err := m.renew(data); err != nil {
		t.Fatal(err)
	}
	verify := func(what string) *x509.Certificate {
		t.Helper()
		cert, err := parseCert(data[SecretCert])
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(bundle(data, now)) {
			t.Fatalf("%s: empty bundle", what)
		}
		for _, h := range []string{"bulwark.bulwark-system.svc", "127.0.0.1"} {
			if _, err := cert.Verify(x509.VerifyOptions{DNSName: h, Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
				t.Errorf("%s: certificate does not verify for %s: %v", what, h, err)
			}
		}
		if err := m.serve(data); err != nil {
			t.Errorf("%s: %v", what, err)
		}
		return cert
	}
	first := verify("issued")
	firstCA := append([]byte{}, data[SecretCACert]...)

	// Nothing is due: nothing changes.
	now = start.Add(10 * 24 * time.Hour)
	if err := m.renew(data); err != nil {
		t.Fatal(err)
	}
	if c := verify("unchanged"); !c.Equal(first) {
		t.Error("certificate replaced although not due")
	}

	// Less than a third of the certificate's validity left: a new one from
	// the same CA.
	now = start.Add(21 * 24 * time.Hour)
	if err := m.renew(data); err != nil {
		t.Fatal(err)
	}
	second := verify("renewed")
	if second.Equal(first) || !bytes.Equal(data[SecretCACert], firstCA) {
		t.Error("certificate not renewed, or CA replaced with it")
	}

	// A new host name: a new certificate.
	m.opts.Hosts = append(m.opts.Hosts, "bulwark.example.com")
	if err := m.renew(data); err != nil {
		t.Fatal(err)
	}
	if c := verify("new host"); c.Equal(second) || c.VerifyHostname("bulwark.example.com") != nil {
		t.Error("certificate not reissued for a new host")
	}

	// Less than a third of the CA's validity left: a new CA, the previous
	// one still in the bundle, and a certificate from the new CA.
	now = start.Add(61 * 24 * time.Hour)
	if err := m.renew(data); err != nil {
		t.Fatal(err)
	}
	verify("new CA")
	if bytes.Equal(data[SecretCACert], firstCA) || !bytes.Equal(data[SecretPreviousCACert], firstCA) {
		t.Error("CA not rotated, or the previous CA not kept")
	}
	if n := bytes.Count(bundle(data, now), []byte("BEGIN CERTIFICATE")); n != 2 {
		t.Errorf("bundle holds %d certificates, want 2 (new and previous CA)", n)
	}
	// Once the previous CA has expired it leaves the bundle.
	prev, _ := pem.Decode(data[SecretPreviousCACert])
	pc, _ := x509.ParseCertificate(prev.Bytes)
	if n := bytes.Count(bundle(data, pc.NotAfter.Add(time.Second)), []byte("BEGIN CERTIFICATE")); n != 1 {
		t.Errorf("bundle after the previous CA expired holds %d certificates, want 1", n)
	}

	// Garbage in the Secret is replaced.
	data[SecretCAKey] = []byte("not a key")
	if err := m.renew(data); err != nil {
		t.Fatal(err)
	}
	verify("after garbage")
}
