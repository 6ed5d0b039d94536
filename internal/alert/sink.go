package alert

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sink delivers alerts to one receiver.
//
// The delivery goroutine of the sink's pipeline is the only caller of
// Send; it calls it with a batch of at most the sink's batch size and
// waits for it to return before calling it again. Send must honour ctx
// (return promptly once it is done) and bound every outbound call with
// its own timeout. It reports whether a failure is worth retrying: a
// receiver that is down, overloaded or slow (connection refused, a
// timeout, an HTTP 5xx, 408 or 429) is; one that rejects the alerts
// (another HTTP 4xx) is not. When only part of the batch failed, Send
// returns a *PartialError naming the alerts to retry and the alerts
// rejected. Errors never contain credentials.
//
// Retrying, spooling, deduplication and rate limits are stages that wrap
// a Sink (see Retry, RateLimit and Router); a Sink does none of them.
type Sink interface {
	Send(ctx context.Context, alerts ...Alert) (retry bool, err error)
}

// Closer is implemented by sinks that hold connections or files. The
// router calls Close once, after the sink's last Send has returned.
type Closer interface {
	Close() error
}

// PartialError reports a batch of which only some alerts failed. Alerts
// not named in Retry or Rejected were delivered.
type PartialError struct {
	// Retry are worth sending again.
	Retry []Alert
	// Rejected were refused by the receiver and will not be accepted
	// on a retry.
	Rejected []Alert
	Err      error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("%d alerts to retry, %d rejected: %v", len(e.Retry), len(e.Rejected), e.Err)
}

func (e *PartialError) Unwrap() error { return e.Err }

// HTTPError is an HTTP response that was not a success.
type HTTPError struct {
	Status int
	// Body is the start of the response body, with credentials removed.
	Body string
	// After is the delay the receiver asked for with Retry-After.
	After time.Duration
}

func (e *HTTPError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body)
}

// RetryAfter is the delay the receiver asked for, 0 when none.
func (e *HTTPError) RetryAfter() time.Duration { return e.After }

// retryableStatus says whether an HTTP status is worth retrying: 5xx,
// 408 (request timeout) and 429 (too many requests) are; every other
// 4xx means the receiver refuses the request as it is.
func retryableStatus(code int) bool {
	return code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests
}

// parseRetryAfter reads a Retry-After header (seconds or an HTTP date).
func parseRetryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// retryableNetError classifies a transport error (no HTTP response, a
// failed dial, write or TLS handshake). Every one is worth retrying:
// timeouts, refused and reset connections, unreachable hosts and DNS
// failures pass, and a certificate or configuration problem is fixed by
// an operator while the spool keeps the alerts (bounded by its size and
// age, with a log line for each failed attempt).
func retryableNetError(err error) bool { return err != nil }

// redactor removes credentials from text that may reach a log or an
// error: response bodies that echo a header back, URLs, wrapped errors.
type redactor []string

// with returns the redactor extended by secrets (empty ones ignored).
func (r redactor) with(secrets ...string) redactor {
	out := append(redactor(nil), r...)
	for _, s := range secrets {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (r redactor) text(s string) string {
	for _, secret := range r {
		s = strings.ReplaceAll(s, secret, "<redacted>")
	}
	return s
}

// err returns err with every secret replaced in its message; the result
// keeps err's chain for errors.Is and errors.As only when nothing had to
// be replaced.
func (r redactor) err(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := r.text(msg)
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean}
}

type redactedError struct{ msg string }

func (e *redactedError) Error() string { return e.msg }

// truncate shortens s to n bytes for an error message.
func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
