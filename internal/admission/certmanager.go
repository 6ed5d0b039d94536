package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Keys of the certificate Secret.
const (
	SecretCACert         = "ca.crt"
	SecretCAKey          = "ca.key"
	SecretPreviousCACert = "ca-previous.crt"
	SecretCert           = corev1.TLSCertKey
	SecretKey            = corev1.TLSPrivateKeyKey
)

// CertManagerOptions configure a CertManager.
type CertManagerOptions struct {
	Client kubernetes.Interface
	// Namespace and SecretName locate the Secret that holds the CA and
	// the serving certificate, shared by every replica.
	Namespace, SecretName string
	// Hosts the serving certificate is for: the Service's DNS names, and
	// an address for an out-of-cluster server.
	Hosts []string
	// WebhookConfigurations are the names of the validating and mutating
	// webhook configurations whose bulwark webhooks get the CA bundle.
	WebhookConfigurations []string
	// CAValidity and CertValidity default to five years and one year. A
	// certificate is replaced when less than a third of its validity is
	// left.
	CAValidity, CertValidity time.Duration
	// CheckInterval between checks of the Secret, the expiry and the
	// webhook configurations; zero means one minute.
	CheckInterval time.Duration
	Logger        *slog.Logger
}

// CertManager issues bulwark's serving certificate from a CA of its own,
// keeps both in a Secret (so that every replica serves the same one),
// replaces them before they expire, and patches the CA bundle into
// bulwark's webhook configurations. While a new CA takes over, the bundle
// holds the previous one too, so certificates it signed stay trusted.
type CertManager struct {
	opts CertManagerOptions
	log  *slog.Logger
	cert atomic.Pointer[tls.Certificate]
	now  func() time.Time
}

// NewCertManager returns a manager; call Ensure before serving, then Run.
func NewCertManager(opts CertManagerOptions) *CertManager {
	if opts.CAValidity <= 0 {
		opts.CAValidity = 5 * 365 * 24 * time.Hour
	}
	if opts.CertValidity <= 0 {
		opts.CertValidity = 365 * 24 * time.Hour
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = time.Minute
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &CertManager{opts: opts, log: log.With("component", "certificates", "secret", opts.Namespace+"/"+opts.SecretName), now: time.Now}
}

// GetCertificate returns the serving certificate.
func (m *CertManager) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := m.cert.Load()
	if c == nil {
		return nil, errors.New("no serving certificate yet")
	}
	return c, nil
}

// Run checks the certificates every CheckInterval until ctx ends.
func (m *CertManager) Run(ctx context.Context) error {
	tick := time.NewTicker(m.opts.CheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := m.Ensure(ctx); err != nil && ctx.Err() == nil {
				m.log.Error("certificate_check_failed", "error", err)
			}
		}
	}
}

// Ensure makes the Secret hold a valid CA and serving certificate
// (creating or renewing them), serves that certificate, and patches the CA
// bundle into the webhook configurations.
func (m *CertManager) Ensure(ctx context.Context) error {
	secrets := m.opts.Client.CoreV1().Secrets(m.opts.Namespace)
	sec, err := secrets.Get(ctx, m.opts.SecretName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		sec = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: m.opts.SecretName, Namespace: m.opts.Namespace,
				Labels: map[string]string{"app.kubernetes.io/name": "bulwark", "app.kubernetes.io/component": "webhook-certificate"}},
			Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{},
		}
		if err := m.renew(sec.Data); err != nil {
			return err
		}
		if _, err := secrets.Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			if apierrors.IsAlreadyExists(err) { // another replica was first
				return m.Ensure(ctx)
			}
			return fmt.Errorf("create certificate secret: %w", err)
		}
		m.log.Info("certificate_created")
	case err != nil:
		return fmt.Errorf("read certificate secret: %w", err)
	default:
		data := map[string][]byte{}
		for k, v := range sec.Data {
			data[k] = v
		}
		before := fmt.Sprint(data[SecretCert], data[SecretCACert])
		if err := m.renew(data); err != nil {
			return err
		}
		if fmt.Sprint(data[SecretCert], data[SecretCACert]) != before {
			upd := sec.DeepCopy()
			upd.Data = data
			if sec, err = secrets.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("update certificate secret: %w", err) // a conflict: the next check reads the winner's
			}
			m.log.Info("certificate_renewed")
		}
		sec.Data = data
	}
	if err := m.serve(sec.Data); err != nil {
		return err
	}
	return m.patchBundles(ctx, bundle(sec.Data, m.now()))
}

// renew fills data with a CA and serving certificate when they are
// missing, unreadable, do not cover the hosts, or have less than a third
// of their validity left.
func (m *CertManager) renew(data map[string][]byte) error {
	now := m.now()
	ca, err := ParseCA(data[SecretCACert], data[SecretCAKey])
	if err != nil || dueForRenewal(ca.Cert, now) {
		if err == nil && now.Before(ca.Cert.NotAfter) {
			data[SecretPreviousCACert] = ca.CertPEM
		} else {
			delete(data, SecretPreviousCACert)
		}
		if ca, err = NewCA("bulwark-webhook-ca", now, m.opts.CAValidity); err != nil {
			return err
		}
		data[SecretCACert], data[SecretCAKey] = ca.CertPEM, ca.KeyPEM
		delete(data, SecretCert) // issue a new one below
	}
	cert, err := parseCert(data[SecretCert])
	if err == nil && !dueForRenewal(cert, now) && covers(cert, m.opts.Hosts) && cert.CheckSignatureFrom(ca.Cert) == nil {
		if _, err := tls.X509KeyPair(data[SecretCert], data[SecretKey]); err == nil {
			return nil
		}
	}
	certPEM, keyPEM, err := ca.Issue(m.opts.Hosts, now, m.opts.CertValidity)
	if err != nil {
		return err
	}
	data[SecretCert], data[SecretKey] = certPEM, keyPEM
	return nil
}

// dueForRenewal: less than a third of the validity is left.
func dueForRenewal(c *x509.Certificate, now time.Time) bool {
	return c.NotAfter.Sub(now) < c.NotAfter.Sub(c.NotBefore)/3
}

func covers(c *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if c.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// bundle is the current CA, then the previous one while it is valid.
func bundle(data map[string][]byte, now time.Time) []byte {
	out := append([]byte{}, data[SecretCACert]...)
	if prev, err := parseCert(data[SecretPreviousCACert]); err == nil && now.Before(prev.NotAfter) {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: prev.Raw})...)
	}
	return out
}

func (m *CertManager) serve(data map[string][]byte) error {
	c, err := tls.X509KeyPair(data[SecretCert], data[SecretKey])
	if err != nil {
		return fmt.Errorf("certificate secret: %w", err)
	}
	if old := m.cert.Load(); old == nil || !bytes.Equal(old.Certificate[0], c.Certificate[0]) {
		m.cert.Store(&c)
		if old != nil {
			m.log.Info("certificate_reloaded")
		}
	}
	return nil
}

// patchBundles sets caBundle on bulwark's webhooks in the configurations
// named in the options; configurations not installed yet are skipped.
func (m *CertManager) patchBundles(ctx context.Context, caBundle []byte) error {
	ar := m.opts.Client.AdmissionregistrationV1()
	var errs []error
	for _, name := range m.opts.WebhookConfigurations {
		vwc, err := ar.ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			errs = append(errs, fmt.Errorf("read validating webhook configuration %s: %w", name, err))
		default:
			changed := false
			for i := range vwc.Webhooks {
				if isBulwarkWebhook(vwc.Webhooks[i].Name) && !bytes.Equal(vwc.Webhooks[i].ClientConfig.CABundle, caBundle) {
					vwc.Webhooks[i].ClientConfig.CABundle, changed = caBundle, true
				}
			}
			if changed {
				if _, err := ar.ValidatingWebhookConfigurations().Update(ctx, vwc, metav1.UpdateOptions{}); err != nil {
					errs = append(errs, fmt.Errorf("patch CA bundle into validating webhook configuration %s: %w", name, err))
				} else {
					m.log.Info("ca_bundle_patched", "configuration", "validating/"+name)
				}
			}
		}
		mwc, err := ar.MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			errs = append(errs, fmt.Errorf("read mutating webhook configuration %s: %w", name, err))
		default:
			changed := false
			for i := range mwc.Webhooks {
				if isBulwarkWebhook(mwc.Webhooks[i].Name) && !bytes.Equal(mwc.Webhooks[i].ClientConfig.CABundle, caBundle) {
					mwc.Webhooks[i].ClientConfig.CABundle, changed = caBundle, true
				}
			}
			if changed {
				if _, err := ar.MutatingWebhookConfigurations().Update(ctx, mwc, metav1.UpdateOptions{}); err != nil {
					errs = append(errs, fmt.Errorf("patch CA bundle into mutating webhook configuration %s: %w", name, err))
				} else {
					m.log.Info("ca_bundle_patched", "configuration", "mutating/"+name)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func isBulwarkWebhook(name string) bool {
	return slices.Contains([]string{ValidatingWebhookName, MutatingWebhookName}, name)
}

var _ Certificates = (*CertManager)(nil)
