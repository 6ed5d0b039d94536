package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// azureMaxBody is the Logs Ingestion API's limit per call (1 MB).
const azureMaxBody = 1_000_000

// AzureMonitor sends alerts to the Azure Monitor Logs Ingestion API:
//
//	POST {endpoint}/dataCollectionRules/{dcrImmutableId}/streams/{stream}?api-version=2023-01-01
//
// with a JSON array of records and an Entra ID bearer token obtained with
// the client-credentials flow from {authority}/{tenant}/oauth2/v2.0/token
// (scope https://monitor.azure.com//.default), cached until shortly
// before it expires. A batch larger than 1 MB is split.
type AzureMonitor struct {
	c        *httpClient
	ingest   string
	tokenURL string
	form     url.Values
	base     redactor // the client secret; the current token is added

	mu      sync.Mutex
	token   string
	expires time.Time
}

var (
	_ Sink   = (*AzureMonitor)(nil)
	_ Closer = (*AzureMonitor)(nil)
)

// azureRecord is one row of the DCR's input stream; the stream must
// declare these columns (see docs/alerts.md).
type azureRecord struct {
	TimeGenerated string            `json:"TimeGenerated"`
	AlertID       string            `json:"AlertId"`
	Rule          string            `json:"Rule"`
	Priority      string            `json:"Priority"`
	Severity      int               `json:"Severity"`
	Output        string            `json:"Output"`
	Check         string            `json:"Check,omitempty"`
	Requirements  []string          `json:"Requirements,omitempty"`
	Tags          []string          `json:"Tags,omitempty"`
	AuditID       string            `json:"AuditId,omitempty"`
	Cluster       string            `json:"Cluster,omitempty"`
	Source        string            `json:"Source,omitempty"`
	UserName      string            `json:"UserName,omitempty"`
	SourceIP      string            `json:"SourceIp,omitempty"`
	Fields        map[string]string `json:"Fields,omitempty"`
}

// NewAzureMonitor returns an Azure Monitor Logs Ingestion sink.
func NewAzureMonitor(cfg AzureMonitorConfig, timeout time.Duration) (*AzureMonitor, error) {
	c, err := newHTTPClient(cfg.TLS, timeout)
	if err != nil {
		return nil, err
	}
	secret, err := resolveSecret(cfg.ClientSecret, cfg.ClientSecretFile, "azureMonitor.clientSecretFile")
	if err != nil {
		return nil, err
	}
	c.redact = c.redact.with(secret, url.QueryEscape(secret))
	authority := strings.TrimRight(orDefault(cfg.Authority, "https://login.microsoftonline.com"), "/")
	ingest := fmt.Sprintf("%s/dataCollectionRules/%s/streams/%s?api-version=2023-01-01",
		strings.TrimRight(cfg.Endpoint, "/"), url.PathEscape(cfg.DCRImmutableID), url.PathEscape(cfg.Stream))
	return &AzureMonitor{
		c:        c,
		base:     c.redact,
		ingest:   ingest,
		tokenURL: authority + "/" + url.PathEscape(cfg.TenantID) + "/oauth2/v2.0/token",
		form: url.Values{
			"grant_type":    {"client_credentials"},
			"client_id":     {cfg.ClientID},
			"client_secret": {secret},
			"scope":         {orDefault(cfg.Scope, "https://monitor.azure.com//.default")},
		},
	}, nil
}

// Send implements Sink. A 401 from the ingestion endpoint drops the
// cached token and is retried; so is a 403, which is what a new role
// assignment answers until it propagates. Token endpoint errors follow
// the HTTP rule (invalid client credentials are a 400 or 401: not
// retried).
func (z *AzureMonitor) Send(ctx context.Context, alerts ...Alert) (bool, error) {
	if err := ctx.Err(); err != nil {
		return true, err
	}
	token, retry, err := z.getToken(ctx)
	if err != nil {
		return retry, fmt.Errorf("azure token: %w", err)
	}
	hdr := http.Header{"Authorization": {"Bearer " + token}}

	// Records go in bodies of at most 1 MB. A rejected body's alerts are
	// reported and the next bodies still sent; a retryable failure stops
	// there and returns the rest for retry.
	var rejected []Alert
	var lastErr error
	var body []byte
	start := 0
	send := func(end int) (stop bool, retry bool, err error) {
		if len(body) == 0 {
			return false, false, nil
		}
		body = append(body, ']')
		_, retry, err = z.c.post(ctx, z.ingest, "application/json", body, hdr)
		body = body[:0]
		chunk := alerts[start:end]
		start = end
		if err == nil {
			return false, false, nil
		}
		var he *HTTPError
		if errors.As(err, &he) && (he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden) {
			z.mu.Lock()
			z.token = ""
			z.mu.Unlock()
			retry = true
		}
		if !retry {
			rejected = append(rejected, chunk...)
			lastErr = err
			return false, false, nil
		}
		if len(rejected) == 0 && len(chunk) == len(alerts[:end]) {
			return true, true, err
		}
		return true, true, &PartialError{Retry: alerts[end-len(chunk):], Rejected: rejected, Err: err}
	}
	for i := range alerts {
		rec, err := json.Marshal(azureRecordFor(&alerts[i]))
		if err != nil {
			return false, fmt.Errorf("encode alert %s: %w", alerts[i].ID, err)
		}
		if len(body) > 0 && len(body)+len(rec)+2 > azureMaxBody {
			if stop, retry, err := send(i); stop {
				return retry, err
			}
		}
		if len(body) == 0 {
			body = append(body, '[')
		} else {
			body = append(body, ',')
		}
		body = append(body, rec...)
	}
	if stop, retry, err := send(len(alerts)); stop {
		return retry, err
	}
	switch {
	case len(rejected) == len(alerts):
		return false, lastErr
	case len(rejected) > 0:
		return false, &PartialError{Rejected: rejected, Err: lastErr}
	}
	return false, nil
}

func azureRecordFor(a *Alert) azureRecord {
	return azureRecord{
		TimeGenerated: a.Time.UTC().Format(time.RFC3339Nano),
		AlertID:       a.ID,
		Rule:          a.Rule,
		Priority:      a.Priority.String(),
		Severity:      severity10(a.Priority),
		Output:        a.Output,
		Check:         a.Check,
		Requirements:  a.Requirements,
		Tags:          a.Tags,
		AuditID:       a.AuditID,
		Cluster:       a.Cluster,
		Source:        a.Source,
		UserName:      a.field("ka.user.name"),
		SourceIP:      a.sourceIP(),
		Fields:        a.Fields,
	}
}

// getToken returns a cached token or requests a new one.
func (z *AzureMonitor) getToken(ctx context.Context) (string, bool, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.token != "" && time.Now().Before(z.expires) {
		return z.token, false, nil
	}
	resp, retry, err := z.c.post(ctx, z.tokenURL, "application/x-www-form-urlencoded", []byte(z.form.Encode()), nil)
	if err != nil {
		return "", retry, err
	}
	var tr struct {
		TokenType   string          `json:"token_type"`
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(resp, &tr); err != nil || tr.AccessToken == "" {
		return "", true, errors.New("token response without access_token")
	}
	if !strings.EqualFold(tr.TokenType, "Bearer") {
		return "", false, fmt.Errorf("token type %q, want Bearer", tr.TokenType)
	}
	// expires_in is a number (v2.0 endpoint) or a string (v1.0).
	secs, err := strconv.Atoi(strings.Trim(string(tr.ExpiresIn), `"`))
	if err != nil || secs <= 0 {
		secs = 300
	}
	life := time.Duration(secs) * time.Second
	// Renew five minutes early, or at half the lifetime of a short token.
	early := min(5*time.Minute, life/2)
	z.token, z.expires = tr.AccessToken, time.Now().Add(life-early)
	z.c.redact = z.base.with(z.token)
	return z.token, false, nil
}

// Close releases idle connections.
func (z *AzureMonitor) Close() error {
	z.c.close()
	return nil
}
