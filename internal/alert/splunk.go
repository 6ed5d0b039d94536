package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Splunk sends alerts to a Splunk HTTP Event Collector: a batch is one
// POST to /services/collector/event of concatenated event objects,
// authenticated by "Authorization: Splunk <token>".
type Splunk struct {
	c                               *httpClient
	url                             string
	index, source, sourceType, host string
}

var (
	_ Sink   = (*Splunk)(nil)
	_ Closer = (*Splunk)(nil)
)

// hecEvent is one event of the HEC event endpoint.
type hecEvent struct {
	Time       float64           `json:"time"`
	Host       string            `json:"host,omitempty"`
	Source     string            `json:"source,omitempty"`
	SourceType string            `json:"sourcetype,omitempty"`
	Index      string            `json:"index,omitempty"`
	Event      *Alert            `json:"event"`
	Fields     map[string]string `json:"fields,omitempty"`
}

// NewSplunk returns a Splunk HEC sink.
func NewSplunk(cfg SplunkConfig, timeout time.Duration) (*Splunk, error) {
	c, err := newHTTPClient(cfg.TLS, timeout)
	if err != nil {
		return nil, err
	}
	token, err := resolveSecret(cfg.Token, cfg.TokenFile, "splunk.tokenFile")
	if err != nil {
		return nil, err
	}
	c.setAuth("Splunk", token)
	u := strings.TrimRight(cfg.URL, "/")
	if !strings.HasSuffix(u, "/services/collector/event") {
		u += "/services/collector/event"
	}
	return &Splunk{c: c, url: u, index: cfg.Index,
		source: orDefault(cfg.Source, "bulwark"), sourceType: orDefault(cfg.SourceType, "bulwark:alert"), host: cfg.Host}, nil
}

// Send implements Sink. HEC answers 400 for a malformed batch, 401/403
// for a bad token (not retried) and 503 when its queues are full
// (retried).
func (s *Splunk) Send(ctx context.Context, alerts ...Alert) (bool, error) {
	if err := ctx.Err(); err != nil {
		return true, err
	}
	var body []byte
	for i := range alerts {
		a := &alerts[i]
		ev := hecEvent{
			Time:       float64(a.Time.UnixMicro()) / 1e6,
			Host:       orDefault(s.host, a.Cluster),
			Source:     s.source,
			SourceType: s.sourceType,
			Index:      s.index,
			Event:      a,
			Fields:     map[string]string{"rule": a.Rule, "priority": a.Priority.String()},
		}
		if a.Check != "" {
			ev.Fields["check"] = a.Check
		}
		if a.Cluster != "" {
			ev.Fields["cluster"] = a.Cluster
		}
		b, err := json.Marshal(&ev)
		if err != nil {
			return false, fmt.Errorf("encode alert %s: %w", a.ID, err)
		}
		body = append(append(body, b...), '\n')
	}
	resp, retry, err := s.c.post(ctx, s.url, "application/json", body, nil)
	if err != nil {
		return retry, err
	}
	var ack struct {
		Code int    `json:"code"`
		Text string `json:"text"`
	}
	if json.Unmarshal(resp, &ack) == nil && ack.Code != 0 {
		return false, fmt.Errorf("HEC code %d: %s", ack.Code, s.c.redact.text(ack.Text))
	}
	return false, nil
}

// Close releases idle connections.
func (s *Splunk) Close() error {
	s.c.close()
	return nil
}
