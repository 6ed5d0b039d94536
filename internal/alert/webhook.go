package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Encoder turns an alert into the JSON a receiver expects.
type Encoder func(a *Alert) ([]byte, error)

// encodeAlert is the default encoder: the alert's own JSON.
func encodeAlert(a *Alert) ([]byte, error) { return json.Marshal(a) }

// Webhook posts alerts as JSON: one object per request, or (batch) one
// array per batch. It is also the OCSF sink's transport.
type Webhook struct {
	c      *httpClient
	url    string
	batch  bool
	encode Encoder
}

var (
	_ Sink   = (*Webhook)(nil)
	_ Closer = (*Webhook)(nil)
)

// NewWebhook returns a webhook sink; a nil encoder posts alerts as
// Bulwark's alert JSON.
func NewWebhook(cfg WebhookConfig, timeout time.Duration, enc Encoder) (*Webhook, error) {
	c, err := newHTTPClient(cfg.TLS, timeout)
	if err != nil {
		return nil, err
	}
	c.headers = make(map[string]string, len(cfg.Headers))
	for k, v := range cfg.Headers {
		c.headers[k] = string(v)
	}
	c.withURLSecrets(cfg.URL)
	token, err := resolveSecret(cfg.BearerToken, cfg.BearerTokenFile, "bearerTokenFile")
	if err != nil {
		return nil, err
	}
	c.setBearer(token)
	if b := cfg.BasicAuth; b != nil {
		pw, err := resolveSecret(b.Password, b.PasswordFile, "basicAuth.passwordFile")
		if err != nil {
			return nil, err
		}
		c.setBasic(b.Username, pw)
	}
	for _, v := range cfg.Headers {
		// Header values often carry API keys.
		if len(v) >= 8 {
			c.redact = c.redact.with(string(v))
		}
	}
	if enc == nil {
		enc = encodeAlert
	}
	return &Webhook{c: c, url: cfg.URL, batch: cfg.Batch, encode: enc}, nil
}

// Send implements Sink. Without batching, the alerts are posted one by
// one: a retryable failure stops there and returns the rest for retry; a
// rejected alert is reported and the next ones are still sent.
func (w *Webhook) Send(ctx context.Context, alerts ...Alert) (bool, error) {
	if err := ctx.Err(); err != nil {
		return true, err
	}
	if w.batch {
		docs := make([]json.RawMessage, len(alerts))
		for i := range alerts {
			b, err := w.encode(&alerts[i])
			if err != nil {
				return false, fmt.Errorf("encode alert %s: %w", alerts[i].ID, err)
			}
			docs[i] = b
		}
		body, err := json.Marshal(docs)
		if err != nil {
			return false, err
		}
		_, retry, err := w.c.post(ctx, w.url, "application/json", body, nil)
		return retry, err
	}
	var rejected []Alert
	var lastErr error
	for i := range alerts {
		body, err := w.encode(&alerts[i])
		if err != nil {
			rejected = append(rejected, alerts[i])
			lastErr = fmt.Errorf("encode alert %s: %w", alerts[i].ID, err)
			continue
		}
		_, retry, err := w.c.post(ctx, w.url, "application/json", body, nil)
		if err == nil {
			continue
		}
		if !retry {
			rejected = append(rejected, alerts[i])
			lastErr = err
			continue
		}
		if i == 0 && len(rejected) == 0 {
			return true, err
		}
		return true, &PartialError{Retry: alerts[i:], Rejected: rejected, Err: err}
	}
	if len(rejected) == len(alerts) {
		return false, lastErr
	}
	if len(rejected) > 0 {
		return false, &PartialError{Rejected: rejected, Err: lastErr}
	}
	return false, nil
}

// Close releases idle connections.
func (w *Webhook) Close() error {
	w.c.close()
	return nil
}
