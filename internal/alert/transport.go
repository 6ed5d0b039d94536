package alert

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

// build returns the tls.Config for a client connection.
func (c TLSConfig) build() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.MinVersion == "1.3" {
		tc.MinVersion = tls.VersionTLS13
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.caFile %s: %w", c.CAFile, unwrapPath(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.caFile %s: no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			// The key file's content never appears in this error.
			return nil, fmt.Errorf("tls.certFile %s / keyFile %s: %w", c.CertFile, c.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// httpClient is the transport every HTTP sink shares: TLS options, a
// timeout on every request, fixed headers and an Authorization value,
// and credentials scrubbed from every error.
type httpClient struct {
	client  *http.Client
	timeout time.Duration
	headers map[string]string
	auth    string // Authorization header value, "" for none
	redact  redactor
}

func newHTTPClient(tc TLSConfig, timeout time.Duration) (*httpClient, error) {
	tlsConf, err := tc.build()
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
	return &httpClient{
		client: &http.Client{
			Transport: tr,
			Timeout:   timeout,
			// A redirect of a POST is a misconfigured URL: report it
			// rather than follow it (and maybe resend credentials).
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		timeout: timeout,
	}, nil
}

// setBearer and setBasic configure the Authorization header.
func (c *httpClient) setBearer(token string) {
	if token != "" {
		c.auth = "Bearer " + token
		c.redact = c.redact.with(token)
	}
}

func (c *httpClient) setBasic(user, password string) {
	enc := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	c.auth = "Basic " + enc
	c.redact = c.redact.with(password, enc)
}

func (c *httpClient) setAuth(scheme, secret string) {
	c.auth = scheme + " " + secret
	c.redact = c.redact.with(secret)
}

// withURLSecrets adds the password and query values of a URL to the
// redactor (some receivers take a token in the URL).
func (c *httpClient) withURLSecrets(raw string) {
	u, err := url.Parse(raw)
	if err != nil {
		return
	}
	if p, ok := u.User.Password(); ok {
		c.redact = c.redact.with(p)
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			if len(v) >= 8 {
				c.redact = c.redact.with(v)
			}
		}
	}
}

// post sends body and returns the response body of a 2xx answer. Any
// other status is an *HTTPError; a transport failure is returned with
// credentials removed. retry says whether the failure is worth retrying.
func (c *httpClient) post(ctx context.Context, target, contentType string, body []byte, header http.Header) (resp []byte, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, false, c.redact.err(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "bulwark")
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	res, err := c.client.Do(req)
	if err != nil {
		return nil, retryableNetError(err), c.redact.err(stripURL(err))
	}
	defer res.Body.Close()
	data, readErr := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return data, retryableStatus(res.StatusCode), &HTTPError{
			Status: res.StatusCode,
			Body:   c.redact.text(truncate(string(data), 512)),
			After:  parseRetryAfter(res.Header.Get("Retry-After"), time.Now()),
		}
	}
	if readErr != nil {
		// Delivered (2xx) but the answer was cut: retrying may duplicate;
		// the caller decides whether the body matters.
		return data, true, c.redact.err(readErr)
	}
	return data, false, nil
}

// stripURL drops the URL from a *url.Error: it may hold credentials, and
// the sink's name already says where the request went.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

func (c *httpClient) close() { c.client.CloseIdleConnections() }
