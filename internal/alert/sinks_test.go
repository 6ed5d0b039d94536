package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func newTestSink(t *testing.T, cfg SinkConfig) Sink {
	t.Helper()
	f := &fixture{}
	return f.sink(t, cfg, 5*time.Second)
}

func TestAzureMonitorWireFormat(t *testing.T) {
	h := newHTTPReceiver(t, true)
	ca := caFileFor(t, h)
	h.setVerify(func(r *http.Request, body []byte) error {
		want := "/dataCollectionRules/" + azureDCR + "/streams/" + azureStream
		switch {
		case r.Method != http.MethodPost || r.URL.Path != want:
			return fmt.Errorf("%s %s, want POST %s", r.Method, r.URL.Path, want)
		case r.URL.RawQuery != "api-version=2023-01-01":
			return fmt.Errorf("query %q", r.URL.RawQuery)
		case !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "+azureToken+"-"):
			return errors.New("missing or foreign bearer token")
		case r.Header.Get("Content-Type") != "application/json":
			return fmt.Errorf("content type %q", r.Header.Get("Content-Type"))
		}
		var rows []map[string]any
		if err := json.Unmarshal(body, &rows); err != nil {
			return fmt.Errorf("body is not a JSON array: %v", err)
		}
		for _, row := range rows {
			if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(row["TimeGenerated"])); err != nil {
				return fmt.Errorf("TimeGenerated: %v", err)
			}
		}
		return nil
	})
	cfg := SinkConfig{Type: "azuremonitor", AzureMonitor: &AzureMonitorConfig{
		Endpoint: h.URL, DCRImmutableID: azureDCR, Stream: azureStream,
		TenantID: azureTenant, ClientID: "client-1", ClientSecret: secretAzure, Authority: h.URL,
		TLS: TLSConfig{CAFile: ca}}}
	s := newTestSink(t, cfg)
	ctx := context.Background()

	if retry, err := s.Send(ctx, conformanceAlerts(3)...); err != nil {
		t.Fatalf("Send = %v, %v", retry, err)
	}
	if retry, err := s.Send(ctx, conformanceAlerts(2)...); err != nil {
		t.Fatalf("Send = %v, %v", retry, err)
	}
	if n := h.tokens.Load(); n != 1 {
		t.Errorf("%d tokens requested for two sends, want 1 (cached)", n)
	}
	reqs := h.received()
	var rows []map[string]any
	if err := json.Unmarshal(reqs[0].body, &rows); err != nil || len(rows) != 3 {
		t.Fatalf("first body: %v, %d rows", err, len(rows))
	}
	a := conformanceAlerts(1)[0]
	for col, want := range map[string]any{
		"AlertId": a.ID, "Rule": a.Rule, "Priority": "Warning", "Severity": 5.0, "Check": "BW-DET-001",
		"AuditId": "audit-0", "Cluster": "prod-1", "UserName": "alice", "SourceIp": "10.1.2.3",
		"TimeGenerated": "2025-03-04T05:06:07.123456789Z",
	} {
		if rows[0][col] != want {
			t.Errorf("column %s = %#v, want %#v", col, rows[0][col], want)
		}
	}

	t.Run("401 drops the token and is retried", func(t *testing.T) {
		before := h.tokens.Load()
		h.setVerify(func(*http.Request, []byte) error { return errors.New("token expired") })
		retry, err := s.Send(ctx, conformanceAlerts(1)...)
		h.setVerify(nil)
		if err == nil || !retry {
			t.Fatalf("Send = %v, %v; want a retryable error", retry, err)
		}
		if _, err := s.Send(ctx, conformanceAlerts(1)...); err != nil {
			t.Fatal(err)
		}
		if h.tokens.Load() != before+1 {
			t.Errorf("no new token after a 401")
		}
	})

	t.Run("token renewed before it expires", func(t *testing.T) {
		h.tokenTTL.Store(2) // renewed after half its life
		s := newTestSink(t, cfg)
		before := h.tokens.Load()
		s.Send(ctx, conformanceAlerts(1)...)
		s.Send(ctx, conformanceAlerts(1)...)
		time.Sleep(1100 * time.Millisecond)
		s.Send(ctx, conformanceAlerts(1)...)
		if got := h.tokens.Load() - before; got != 2 {
			t.Errorf("%d tokens for three sends across a renewal, want 2", got)
		}
	})

	t.Run("batches over 1 MB are split", func(t *testing.T) {
		n := len(h.received())
		big := conformanceAlerts(5)
		for i := range big {
			big[i].Output = strings.Repeat("y", 300_000)
		}
		if _, err := s.Send(ctx, big...); err != nil {
			t.Fatal(err)
		}
		reqs := h.received()[n:]
		total := 0
		for _, r := range reqs {
			if len(r.body) > azureMaxBody {
				t.Errorf("request of %d bytes", len(r.body))
			}
			var rows []json.RawMessage
			json.Unmarshal(r.body, &rows)
			total += len(rows)
		}
		if len(reqs) < 2 || total != 5 {
			t.Errorf("%d requests with %d rows; want several with 5", len(reqs), total)
		}
	})
}

func TestElasticsearchBulk(t *testing.T) {
	h := newHTTPReceiver(t, false)
	cfg := SinkConfig{Type: "elasticsearch", Elasticsearch: &ElasticsearchConfig{URL: h.URL, Index: "alerts-x", Username: "elastic", Password: secretPassword, Pipeline: "geoip"}}
	s := newTestSink(t, cfg)
	alerts := conformanceAlerts(8)
	if _, err := s.Send(context.Background(), alerts...); err != nil {
		t.Fatal(err)
	}
	r := h.received()[0]
	if r.path != "/_bulk" || r.query != "pipeline=geoip" || r.header.Get("Content-Type") != "application/x-ndjson" {
		t.Errorf("request %s?%s %s", r.path, r.query, r.header.Get("Content-Type"))
	}
	if u, p, ok := (&http.Request{Header: r.header}).BasicAuth(); !ok || u != "elastic" || p != secretPassword {
		t.Errorf("basic auth %q %q %v", u, p, ok)
	}
	lines := strings.Split(strings.TrimSuffix(string(r.body), "\n"), "\n")
	if len(lines) != 16 || !bytes.HasSuffix(r.body, []byte("\n")) {
		t.Fatalf("%d NDJSON lines (want 16, ending in a newline)", len(lines))
	}
	var act map[string]map[string]string
	if err := json.Unmarshal([]byte(lines[0]), &act); err != nil || act["create"]["_index"] != "alerts-x" || act["create"]["_id"] != alerts[0].ID {
		t.Errorf("action line %s", lines[0])
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &doc); err != nil || get(doc, "event.kind") != "alert" {
		t.Errorf("document line %s", lines[1])
	}

	t.Run("per-item errors", func(t *testing.T) {
		h.setMode(modeBulkPartial)
		defer h.setMode(modeOK)
		retry, err := s.Send(context.Background(), alerts...)
		var pe *PartialError
		if !errors.As(err, &pe) || !retry {
			t.Fatalf("Send = %v, %v; want a retryable *PartialError", retry, err)
		}
		// Items by index mod 4: created, 429, 400, 409 (already there).
		ids := func(as []Alert) []string {
			var out []string
			for _, a := range as {
				out = append(out, a.AuditID)
			}
			return out
		}
		if got := ids(pe.Retry); strings.Join(got, ",") != "audit-1,audit-5" {
			t.Errorf("retry %v", got)
		}
		if got := ids(pe.Rejected); strings.Join(got, ",") != "audit-2,audit-6" {
			t.Errorf("rejected %v", got)
		}
		if !strings.Contains(err.Error(), "mapper_parsing_exception") && !strings.Contains(err.Error(), "es_rejected_execution_exception") {
			t.Errorf("error does not name the item error: %v", err)
		}
	})

	t.Run("through the retry stage", func(t *testing.T) {
		h.setMode(modeBulkPartial)
		defer h.setMode(modeOK)
		var rejected, retried []Alert
		rs := &Retry{Next: s, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
			OnReject: func(a []Alert, _ error) { rejected = append(rejected, a...) },
			OnRetry: func(a []Alert, _ error, _ time.Duration) {
				retried = append(retried, a...)
				h.setMode(modeOK) // the cluster recovers
			}}
		if _, err := rs.Send(context.Background(), alerts[:4]...); err != nil {
			t.Fatal(err)
		}
		if len(rejected) != 1 || rejected[0].AuditID != "audit-2" || len(retried) != 1 || retried[0].AuditID != "audit-1" {
			t.Errorf("rejected %d, retried %d", len(rejected), len(retried))
		}
		last := h.received()[len(h.received())-1]
		if strings.Count(string(last.body), "\n") != 2 || !strings.Contains(string(last.body), alerts[1].ID) {
			t.Errorf("the retry sent %q, want only audit-1", last.body)
		}
	})
}

func TestSplunkHEC(t *testing.T) {
	h := newHTTPReceiver(t, false)
	s := newTestSink(t, SinkConfig{Type: "splunk", Splunk: &SplunkConfig{URL: h.URL + "/", Token: secretSplunk, Index: "security"}})
	if _, err := s.Send(context.Background(), conformanceAlerts(3)...); err != nil {
		t.Fatal(err)
	}
	r := h.received()[0]
	if r.path != "/services/collector/event" || r.header.Get("Authorization") != "Splunk "+secretSplunk {
		t.Errorf("request %s, auth %q", r.path, r.header.Get("Authorization"))
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	n := 0
	for dec.More() {
		var ev struct {
			Time       float64           `json:"time"`
			Host       string            `json:"host"`
			Source     string            `json:"source"`
			SourceType string            `json:"sourcetype"`
			Index      string            `json:"index"`
			Event      Alert             `json:"event"`
			Fields     map[string]string `json:"fields"`
		}
		if err := dec.Decode(&ev); err != nil {
			t.Fatal(err)
		}
		n++
		if ev.Time != 1741064767.123456 || ev.Host != "prod-1" || ev.Source != "bulwark" || ev.SourceType != "bulwark:alert" ||
			ev.Index != "security" || ev.Event.Rule != "Exec into pod" || ev.Fields["check"] != "BW-DET-001" {
			t.Errorf("event %+v", ev)
		}
	}
	if n != 3 {
		t.Errorf("%d events in one request, want 3", n)
	}
}

func TestWebhook(t *testing.T) {
	h := newHTTPReceiver(t, false)
	h.setVerify(func(r *http.Request, body []byte) error {
		if r.Header.Get("X-Tenant") != "blue" || r.Header.Get("Authorization") != "Bearer "+secretBearer {
			return errors.New("headers")
		}
		return nil
	})
	cfg := SinkConfig{Type: "webhook", Webhook: &WebhookConfig{HTTPConfig: HTTPConfig{URL: h.URL + "/in", BearerToken: secretBearer,
		Headers: map[string]Secret{"X-Tenant": "blue"}}}}
	s := newTestSink(t, cfg)
	alerts := conformanceAlerts(3)
	if _, err := s.Send(context.Background(), alerts...); err != nil {
		t.Fatal(err)
	}
	reqs := h.received()
	if len(reqs) != 3 {
		t.Fatalf("%d requests for 3 alerts without batching", len(reqs))
	}
	var got Alert
	if err := json.Unmarshal(reqs[1].body, &got); err != nil || got.ID != alerts[1].ID || got.Cluster != "prod-1" {
		t.Errorf("body %s", reqs[1].body)
	}

	t.Run("one rejected alert does not hold back the others", func(t *testing.T) {
		n := len(h.received())
		h.setVerify(func(r *http.Request, body []byte) error {
			if bytes.Contains(body, []byte(alerts[0].ID)) {
				return errors.New("rejected")
			}
			return nil
		})
		defer h.setVerify(nil)
		retry, err := s.Send(context.Background(), alerts...)
		var pe *PartialError
		if !errors.As(err, &pe) || retry || len(pe.Rejected) != 1 || len(pe.Retry) != 0 {
			t.Fatalf("Send = %v, %v", retry, err)
		}
		if len(h.received())-n != 2 {
			t.Errorf("%d delivered, want 2", len(h.received())-n)
		}
	})

	t.Run("batch posts an array", func(t *testing.T) {
		cfg.Webhook.Batch = true
		s := newTestSink(t, cfg)
		n := len(h.received())
		if _, err := s.Send(context.Background(), alerts...); err != nil {
			t.Fatal(err)
		}
		var arr []Alert
		if err := json.Unmarshal(h.received()[n].body, &arr); err != nil || len(arr) != 3 {
			t.Errorf("batch body: %v, %d alerts", err, len(arr))
		}
	})
}

func TestSyslogReconnectsAfterReceiverCloses(t *testing.T) {
	srv := startSyslogServer(t, "tcp", nil, false)
	s := newTestSink(t, SinkConfig{Type: "syslog", Syslog: &SyslogConfig{Network: "tcp", Address: srv.addr}})
	if _, err := s.Send(context.Background(), conformanceAlerts(1)...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return len(srv.messages()) == 1 }, "first message")
	// The receiver drops every connection (a restart): the next send
	// must notice before writing, not lose the message into a dead
	// connection.
	srv.conns.Range(func(k, _ any) bool { k.(interface{ Close() error }).Close(); return true })
	time.Sleep(50 * time.Millisecond)
	if _, err := s.Send(context.Background(), conformanceAlerts(2)[1]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return len(srv.messages()) == 2 }, "the message sent after the receiver closed the connection")
}
