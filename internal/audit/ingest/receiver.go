package ingest

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// DefaultMaxBatchBytes bounds one webhook batch, before and after gzip.
// The API server's webhook backend sends batches of at most 400 events by
// default, far below it.
const DefaultMaxBatchBytes = 10 << 20

// Path is where the receiver serves the API server's audit webhook.
const Path = "/audit"

// Sink takes decoded audit events. When Ingest returns nil the events are
// durable (archived); the receiver only then answers 200.
type Sink interface {
	Ingest(events []*audit.Event) error
}

// ReceiverOptions configure the audit webhook receiver.
type ReceiverOptions struct {
	Sink Sink
	// Tokens accepted as "Authorization: Bearer" credentials; empty turns
	// bearer authentication off.
	Tokens *Tokens
	// ClientCertificates accepts a request whose TLS client certificate
	// the server verified against its client CA.
	ClientCertificates bool
	// MaxBatchBytes bounds a batch, compressed and uncompressed (default
	// DefaultMaxBatchBytes).
	MaxBatchBytes int64
	Metrics       *Metrics
	Logger        *slog.Logger
}

// Receiver is the HTTPS endpoint of the kube-apiserver's audit webhook
// backend (--audit-webhook-config-file): it takes audit.k8s.io/v1
// EventList bodies, gzip-compressed or not, authenticated by client
// certificate or bearer token.
type Receiver struct {
	opts ReceiverOptions
}

// NewReceiver returns the receiver. At least one way to authenticate must
// be enabled: an unauthenticated audit sink lets anyone forge history.
func NewReceiver(opts ReceiverOptions) (*Receiver, error) {
	if opts.Sink == nil {
		return nil, errors.New("audit receiver: no sink")
	}
	if opts.Tokens.Len() == 0 && !opts.ClientCertificates {
		return nil, errors.New("audit receiver: no authentication: give a token file or a client CA")
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	return &Receiver{opts: opts}, nil
}

// ServeHTTP answers 200 once every event of the batch is durable, 401
// without valid credentials, 400 for a body that is not an EventList,
// 413 for one over the limit, 415 for an unknown content encoding, and
// 503 when the events could not be stored (the API server then retries).
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	m := rc.opts.Metrics
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		rc.fail(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "the audit webhook takes POST")
		return
	}
	if !rc.authenticated(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="bulwark-audit"`)
		rc.fail(w, r, http.StatusUnauthorized, "unauthenticated", "a bearer token or a client certificate is required")
		return
	}
	body, status, reason, err := rc.readBody(w, r)
	if err != nil {
		rc.fail(w, r, status, reason, err.Error())
		return
	}
	events, rejected, err := audit.DecodeBatch(body)
	if err != nil {
		rc.fail(w, r, http.StatusBadRequest, "malformed", err.Error())
		return
	}
	if len(rejected) > 0 {
		// An item that is not an audit event cannot be archived as one;
		// the batch's are logged once (without their content, which may
		// hold secrets) and counted, and the rest of the batch is kept.
		rc.opts.Logger.Warn("audit_events_rejected", "items", len(rejected), "first_item", rejected[0].Index,
			"first_error", rejected[0].Err, "remote", r.RemoteAddr)
	}
	m.rejected.Add(float64(len(rejected)))
	if len(events) > 0 {
		if err := rc.opts.Sink.Ingest(events); err != nil {
			rc.opts.Logger.Error("audit_batch_not_stored", "events", len(events), "error", err)
			rc.fail(w, r, http.StatusServiceUnavailable, "store_failed", "the events could not be stored; retry")
			return
		}
	}
	m.batches.WithLabelValues("ok").Inc()
	m.received.Add(float64(len(events)))
	m.batchSeconds.Observe(time.Since(start).Seconds())
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Success","code":200}`)
}

func (rc *Receiver) fail(w http.ResponseWriter, r *http.Request, code int, reason, msg string) {
	rc.opts.Metrics.batches.WithLabelValues(reason).Inc()
	if code != http.StatusUnauthorized && code != http.StatusServiceUnavailable {
		rc.opts.Logger.Warn("audit_batch_refused", "status", code, "reason", reason, "error", msg, "remote", r.RemoteAddr)
	}
	http.Error(w, msg, code)
}

func (rc *Receiver) authenticated(r *http.Request) bool {
	if rc.opts.ClientCertificates && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return true
	}
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	return ok && strings.EqualFold(scheme, "Bearer") && rc.opts.Tokens.Valid(strings.TrimSpace(token))
}

// readBody reads the request body within the limit, gunzipping it when
// its Content-Encoding says so.
func (rc *Receiver) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, string, error) {
	limit := rc.opts.MaxBatchBytes
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge, "too_large", fmt.Errorf("batch of %d bytes is over the limit of %d", r.ContentLength, limit)
	}
	var src io.Reader = http.MaxBytesReader(w, r.Body, limit)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bufio.NewReader(src))
		if err != nil {
			return nil, http.StatusBadRequest, "malformed", fmt.Errorf("gzip body: %w", err)
		}
		defer zr.Close()
		src = zr
	default:
		return nil, http.StatusUnsupportedMediaType, "unsupported_encoding", fmt.Errorf("content encoding %q is not supported (gzip is)", enc)
	}
	// One byte over the limit tells a full batch from an oversized one.
	body, err := io.ReadAll(io.LimitReader(src, limit+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, http.StatusRequestEntityTooLarge, "too_large", fmt.Errorf("batch is over the limit of %d bytes", limit)
	case err != nil:
		return nil, http.StatusBadRequest, "malformed", fmt.Errorf("read body: %w", err)
	case int64(len(body)) > limit:
		return nil, http.StatusRequestEntityTooLarge, "too_large", fmt.Errorf("batch is over the limit of %d bytes once decompressed", limit)
	}
	return body, 0, "", nil
}

// Tokens is a set of bearer tokens, compared in constant time.
type Tokens struct {
	sums [][sha256.Size]byte
}

// LoadTokens reads a token file: one token per line; blank lines and
// lines starting with # are skipped. A file without a token is an error.
func LoadTokens(file string) (*Tokens, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	t := &Tokens{}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.ContainsAny(line, " \t") {
			return nil, fmt.Errorf("token file %s:%d: a token has no spaces", file, n+1)
		}
		t.Add(line)
	}
	if t.Len() == 0 {
		return nil, fmt.Errorf("token file %s: no token in it", file)
	}
	return t, nil
}

// Add accepts one more token.
func (t *Tokens) Add(token string) { t.sums = append(t.sums, sha256.Sum256([]byte(token))) }

// Len is the number of tokens; 0 for a nil set.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.sums)
}

// Valid reports whether token is one of the set. Every token is compared,
// through its digest, so timing tells nothing about which or how close.
func (t *Tokens) Valid(token string) bool {
	if t == nil || token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	ok := 0
	for i := range t.sums {
		ok |= subtle.ConstantTimeCompare(sum[:], t.sums[i][:])
	}
	return ok == 1
}
