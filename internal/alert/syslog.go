package alert

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14, "solaris-cron": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// sdIDPattern is an SD-ID of RFC 5424 §6.3.2 for a private use:
// name@<private enterprise number>.
var sdIDPattern = regexp.MustCompile(`^[!#-<>?A-\\^-~]{1,32}@[0-9]+(\.[0-9]+)*$`)

// rfc5424 holds the header fields of the messages a sink writes.
type rfc5424 struct {
	facility int
	hostname string
	appName  string
	procID   string
	sdID     string
	format   string // cef or json
	version  string
	maxBytes int
}

// appendMessage appends one RFC 5424 message (without transport framing):
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID k="v" ...] MSG
//
// PRI is facility*8 + the priority's syslog severity; TIMESTAMP is the
// alert time in UTC with microseconds; MSGID is the check ID; the
// structured data carries the alert's identity; MSG is the CEF line (or
// the alert JSON). A message longer than maxBytes is cut, on a UTF-8
// boundary, in its MSG.
func (h *rfc5424) appendMessage(b []byte, a *Alert) []byte {
	start := len(b)
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(h.facility*8+syslogSeverity(a.Priority)), 10)
	b = append(b, ">1 "...)
	if a.Time.IsZero() {
		b = append(b, '-')
	} else {
		b = a.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	}
	b = append(b, ' ')
	b = appendHeaderField(b, h.hostname, 255)
	b = append(b, ' ')
	b = appendHeaderField(b, h.appName, 48)
	b = append(b, ' ')
	b = appendHeaderField(b, h.procID, 128)
	b = append(b, ' ')
	b = appendHeaderField(b, a.Check, 32)
	b = append(b, ' ')

	b = h.appendSD(b, a)
	b = append(b, ' ')

	msgStart := len(b)
	if h.format == "json" {
		js, err := json.Marshal(a)
		if err != nil {
			js = []byte(strconv.Quote(a.Output))
		}
		b = append(b, js...)
	} else {
		b = appendCEF(b, a, h.version)
	}
	if h.maxBytes > 0 && len(b)-start > h.maxBytes {
		cut := max(start+h.maxBytes, msgStart)
		for cut > msgStart && !utf8.RuneStart(b[cut]) {
			cut--
		}
		b = b[:cut]
	}
	return b
}

// appendSD appends the alert's STRUCTURED-DATA element:
//
//	[bulwark@32473 id="…" rule="…" priority="…" check="…" auditID="…" cluster="…" requirements="…" source="…"]
//
// Parameters with empty values are left out.
func (h *rfc5424) appendSD(b []byte, a *Alert) []byte {
	b = append(b, '[')
	b = append(b, h.sdID...)
	param := func(name, val string) {
		if val == "" {
			return
		}
		b = append(b, ' ')
		b = append(b, name...)
		b = append(b, '=', '"')
		b = appendSDValue(b, val)
		b = append(b, '"')
	}
	param("id", a.ID)
	param("rule", a.Rule)
	param("priority", a.Priority.String())
	param("check", a.Check)
	param("auditID", a.AuditID)
	param("cluster", a.Cluster)
	param("requirements", strings.Join(a.Requirements, ","))
	param("source", a.Source)
	return append(b, ']')
}

// appendHeaderField appends a header field: printable US-ASCII only, at
// most max bytes, "-" (the NILVALUE) when empty.
func appendHeaderField(b []byte, s string, max int) []byte {
	n := 0
	for i := 0; i < len(s) && n < max; i++ {
		if c := s[i]; c >= 33 && c <= 126 {
			b = append(b, c)
			n++
		}
	}
	if n == 0 {
		b = append(b, '-')
	}
	return b
}

// appendSDValue escapes '"', '\' and ']' in a PARAM-VALUE (RFC 5424
// §6.3.3).
func appendSDValue(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', ']':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendOctetCounted frames a message for a stream transport: its length
// in bytes, a space, the message (RFC 6587 §3.4.1, RFC 5425 §4.3).
func appendOctetCounted(b, msg []byte) []byte {
	b = strconv.AppendInt(b, int64(len(msg)), 10)
	b = append(b, ' ')
	return append(b, msg...)
}

// Syslog sends alerts as RFC 5424 messages over UDP (one datagram per
// message), TCP with octet-counting framing, or TLS (RFC 5425). It keeps
// one connection, checks before each batch that the receiver has not
// closed it, and reconnects after any failure. Syslog has no
// acknowledgements: a message written into a connection the receiver
// drops afterwards is lost without notice, which the liveness check
// narrows to the messages in flight at that moment.
type Syslog struct {
	network, addr string
	tls           *tls.Config
	timeout       time.Duration
	hdr           rfc5424

	mu   sync.Mutex
	conn net.Conn
	buf  []byte
	msg  []byte
}

var (
	_ Sink   = (*Syslog)(nil)
	_ Closer = (*Syslog)(nil)
)

// NewSyslog returns a syslog sink; it connects on the first Send.
func NewSyslog(cfg SyslogConfig, timeout time.Duration, version string) (*Syslog, error) {
	s := &Syslog{network: cfg.Network, addr: cfg.Address, timeout: timeout}
	if cfg.Network == "tls" {
		tc, err := cfg.TLS.build()
		if err != nil {
			return nil, err
		}
		if tc.ServerName == "" {
			host, _, _ := net.SplitHostPort(cfg.Address)
			tc.ServerName = host
		}
		s.tls = tc
	}
	host := cfg.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	fac := 16
	if cfg.Facility != "" {
		f, ok := facilities[strings.ToLower(cfg.Facility)]
		if !ok {
			return nil, fmt.Errorf("syslog.facility: %q is not a syslog facility", cfg.Facility)
		}
		fac = f
	}
	maxBytes := cfg.MaxMessageBytes
	if maxBytes == 0 {
		maxBytes = 65536
		if cfg.Network == "udp" {
			maxBytes = 8192
		}
	}
	s.hdr = rfc5424{
		facility: fac,
		hostname: host,
		appName:  orDefault(cfg.AppName, "bulwark"),
		procID:   strconv.Itoa(os.Getpid()),
		sdID:     orDefault(cfg.StructuredDataID, "bulwark@32473"),
		format:   orDefault(cfg.Format, "cef"),
		version:  version,
		maxBytes: maxBytes,
	}
	return s, nil
}

// Send implements Sink. Every failure is worth retrying: syslog
// receivers do not reject messages.
func (s *Syslog) Send(ctx context.Context, alerts ...Alert) (bool, error) {
	if err := ctx.Err(); err != nil {
		return true, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.connect(ctx)
	if err != nil {
		return true, err
	}
	// Cancelling ctx interrupts a blocked write.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetWriteDeadline(deadline); err != nil {
		s.drop()
		return true, fmt.Errorf("syslog %s: %w", s.addr, err)
	}
	if s.network == "udp" {
		for i := range alerts {
			s.msg = s.hdr.appendMessage(s.msg[:0], &alerts[i])
			if _, err := conn.Write(s.msg); err != nil {
				s.drop()
				err = s.writeErr(ctx, err)
				if i == 0 {
					return true, err
				}
				return true, &PartialError{Retry: alerts[i:], Err: err}
			}
		}
		return false, nil
	}
	s.buf = s.buf[:0]
	for i := range alerts {
		if i%256 == 255 && ctx.Err() != nil {
			return true, ctx.Err()
		}
		s.msg = s.hdr.appendMessage(s.msg[:0], &alerts[i])
		s.buf = appendOctetCounted(s.buf, s.msg)
	}
	if _, err := conn.Write(s.buf); err != nil {
		s.drop()
		return true, s.writeErr(ctx, err)
	}
	if cap(s.buf) > 4<<20 {
		s.buf = nil
	}
	return false, nil
}

func (s *Syslog) writeErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("syslog %s: %w", s.addr, ctx.Err())
	}
	return fmt.Errorf("syslog %s: write: %w", s.addr, err)
}

// connect returns the open connection, after checking that the receiver
// has not closed it, or dials a new one. The caller holds mu.
func (s *Syslog) connect(ctx context.Context) (net.Conn, error) {
	if s.conn != nil {
		if s.network == "udp" || connAlive(s.conn) {
			return s.conn, nil
		}
		s.drop()
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	d := &net.Dialer{KeepAlive: 30 * time.Second}
	network := s.network
	if network == "tls" {
		network = "tcp"
	}
	conn, err := d.DialContext(ctx, network, s.addr)
	if err != nil {
		return nil, fmt.Errorf("syslog %s: dial: %w", s.addr, err)
	}
	if s.tls != nil {
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("syslog %s: TLS handshake: %w", s.addr, err)
		}
		conn = tc
	}
	s.conn = conn
	return conn, nil
}

func (s *Syslog) drop() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// Close closes the connection.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
