package ingest

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// eventJSON is a realistic audit event, distinguished by i.
func eventJSON(i int) string {
	return fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"id-%06d","stage":"ResponseComplete",`+
		`"requestURI":"/api/v1/namespaces/dev/pods/web-%d","verb":"get","user":{"username":"alice","groups":["system:authenticated"]},`+
		`"sourceIPs":["10.0.0.%d"],"userAgent":"kubectl/v1.37.1","objectRef":{"resource":"pods","namespace":"dev","name":"web-%d","apiVersion":"v1"},`+
		`"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-22T08:00:00.000000Z","stageTimestamp":"2026-11-22T08:00:00.001000Z"}`,
		i, i, i%250, i)
}

func eventList(items ...string) string {
	return `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + strings.Join(items, ",") + `]}`
}

// recorder is a Sink that keeps what it is given, or fails while failing
// is set.
type recorder struct {
	mu      sync.Mutex
	events  []*audit.Event
	failing bool
}

func (r *recorder) Ingest(events []*audit.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing {
		return errors.New("disk full")
	}
	r.events = append(r.events, events...)
	return nil
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.events))
	for i, e := range r.events {
		out[i] = e.AuditID
	}
	return out
}

func (r *recorder) setFailing(v bool) {
	r.mu.Lock()
	r.failing = v
	r.mu.Unlock()
}

func newTestReceiver(t *testing.T, sink Sink) *Receiver {
	t.Helper()
	tokens := &Tokens{}
	tokens.Add("s3cret-token")
	rc, err := NewReceiver(ReceiverOptions{Sink: sink, Tokens: tokens, ClientCertificates: true, MaxBatchBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func post(rc http.Handler, body io.Reader, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, Path, body)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	return w
}

var bearer = map[string]string{"Authorization": "Bearer s3cret-token"}

func TestReceiverStoresBatch(t *testing.T) {
	sink := &recorder{}
	rc := newTestReceiver(t, sink)
	w := post(rc, strings.NewReader(eventList(eventJSON(1), eventJSON(2), eventJSON(3))), bearer)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if got := strings.Join(sink.ids(), ","); got != "id-000001,id-000002,id-000003" {
		t.Errorf("stored %s", got)
	}
	// The raw events are kept byte for byte.
	if string(sink.events[1].Raw()) != eventJSON(2) {
		t.Errorf("raw event changed:\n%s", sink.events[1].Raw())
	}
}

func TestReceiverGzip(t *testing.T) {
	sink := &recorder{}
	rc := newTestReceiver(t, sink)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = io.WriteString(zw, eventList(eventJSON(7)))
	_ = zw.Close()
	w := post(rc, &buf, map[string]string{"Authorization": "Bearer s3cret-token", "Content-Encoding": "gzip"})
	if w.Code != http.StatusOK || len(sink.ids()) != 1 {
		t.Fatalf("status %d, %d events: %s", w.Code, len(sink.ids()), w.Body)
	}
}

func TestReceiverAuthentication(t *testing.T) {
	body := eventList(eventJSON(1))
	cert := &x509.Certificate{}
	tests := []struct {
		name   string
		header map[string]string
		tls    *tls.ConnectionState
		want   int
	}{
		{"none", nil, nil, http.StatusUnauthorized},
		{"wrong token", map[string]string{"Authorization": "Bearer nope"}, nil, http.StatusUnauthorized},
		{"token prefix", map[string]string{"Authorization": "Bearer s3cret"}, nil, http.StatusUnauthorized},
		{"basic scheme", map[string]string{"Authorization": "Basic s3cret-token"}, nil, http.StatusUnauthorized},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}, nil, http.StatusUnauthorized},
		{"unverified certificate", nil, &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}, http.StatusUnauthorized},
		{"token", bearer, nil, http.StatusOK},
		{"lower-case scheme", map[string]string{"Authorization": "bearer s3cret-token"}, nil, http.StatusOK},
		{"verified certificate", nil, &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := &recorder{}
			rc := newTestReceiver(t, sink)
			req := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(body))
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			req.TLS = tc.tls
			w := httptest.NewRecorder()
			rc.ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if stored := len(sink.ids()); (tc.want == http.StatusOK) != (stored == 1) {
				t.Errorf("%d events stored with status %d", stored, w.Code)
			}
		})
	}
}

func TestReceiverNeedsAuthentication(t *testing.T) {
	if _, err := NewReceiver(ReceiverOptions{Sink: &recorder{}}); err == nil || !strings.Contains(err.Error(), "authentication") {
		t.Fatalf("a receiver without authentication was built: %v", err)
	}
}

func TestReceiverBadInput(t *testing.T) {
	gz := func(s string) *bytes.Buffer {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = io.WriteString(zw, s)
		_ = zw.Close()
		return &buf
	}
	// Two megabytes of spaces compress to almost nothing: a gzip bomb
	// for a 1 MiB limit.
	bomb := gz(eventList(eventJSON(1)) + strings.Repeat(" ", 2<<20))
	tests := []struct {
		name   string
		body   io.Reader
		header map[string]string
		want   int
		msg    string
	}{
		{"not json", strings.NewReader(`{"kind":"EventList",`), nil, 400, "invalid JSON at offset"},
		{"array", strings.NewReader(`[1,2]`), nil, 400, "JSON array"},
		{"wrong kind", strings.NewReader(`{"kind":"Pod","apiVersion":"v1"}`), nil, 400, `kind "Pod"`},
		{"wrong apiVersion", strings.NewReader(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1beta1","items":[]}`), nil, 400, "audit.k8s.io/v1beta1"},
		{"items not array", strings.NewReader(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":{}}`), nil, 400, "not an array"},
		{"too large", strings.NewReader(strings.Repeat(" ", 2<<20)), nil, 413, "over the limit"},
		{"gzip bomb", bomb, map[string]string{"Content-Encoding": "gzip"}, 413, "once decompressed"},
		{"bad gzip", strings.NewReader("not gzip"), map[string]string{"Content-Encoding": "gzip"}, 400, "gzip"},
		{"brotli", strings.NewReader("{}"), map[string]string{"Content-Encoding": "br"}, 415, `"br"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := &recorder{}
			rc := newTestReceiver(t, sink)
			h := map[string]string{"Authorization": "Bearer s3cret-token"}
			for k, v := range tc.header {
				h[k] = v
			}
			w := post(rc, tc.body, h)
			if w.Code != tc.want || !strings.Contains(w.Body.String(), tc.msg) {
				t.Fatalf("status %d %q, want %d with %q", w.Code, w.Body, tc.want, tc.msg)
			}
			if n := len(sink.ids()); n != 0 {
				t.Errorf("%d events stored from a refused batch", n)
			}
		})
	}
}

func TestReceiverChunkedOverLimit(t *testing.T) {
	sink := &recorder{}
	rc := newTestReceiver(t, sink)
	req := httptest.NewRequest(http.MethodPost, Path, io.MultiReader(strings.NewReader(`{"kind":"EventList","items":[`), strings.NewReader(strings.Repeat(" ", 3<<20))))
	req.ContentLength = -1 // chunked: the size is only known by reading
	req.Header.Set("Authorization", "Bearer s3cret-token")
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

func TestReceiverKeepsGoodItems(t *testing.T) {
	sink := &recorder{}
	rc := newTestReceiver(t, sink)
	body := eventList(eventJSON(1), `{"kind":"Event","verb":42}`, `"just a string"`, eventJSON(4))
	w := post(rc, strings.NewReader(body), bearer)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if got := strings.Join(sink.ids(), ","); got != "id-000001,id-000004" {
		t.Errorf("stored %s", got)
	}
}

func TestReceiverStoreFailureIs503(t *testing.T) {
	sink := &recorder{failing: true}
	rc := newTestReceiver(t, sink)
	if w := post(rc, strings.NewReader(eventList(eventJSON(1))), bearer); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if n := len(sink.ids()); n != 0 {
		t.Errorf("%d events kept by a failing sink", n)
	}
}

func TestReceiverTakesOnlyPost(t *testing.T) {
	rc := newTestReceiver(t, &recorder{})
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, httptest.NewRequest(http.MethodGet, Path, nil))
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodPost {
		t.Errorf("GET: status %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
}

func TestLoadTokens(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	if err := os.WriteFile(file, []byte("# the API server's\n\n  tok-one  \ntok-two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tk, err := LoadTokens(file)
	if err != nil {
		t.Fatal(err)
	}
	if !tk.Valid("tok-one") || !tk.Valid("tok-two") || tk.Valid("tok") || tk.Valid("") || tk.Len() != 2 {
		t.Errorf("tokens: %+v", tk)
	}
	for content, want := range map[string]string{"# only a comment\n": "no token", "two words\n": ":1: a token has no spaces"} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadTokens(file); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", content, err, want)
		}
	}
	if _, err := LoadTokens(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing token file was accepted")
	}
}
