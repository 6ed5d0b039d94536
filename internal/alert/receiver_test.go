package alert

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/testutil/pki"
)

// testPKI is a CA and a server certificate for 127.0.0.1 and localhost,
// written as PEM files.
type testPKI struct {
	caFile, certFile, keyFile string
	server                    tls.Certificate
}

func newTestPKI(t testing.TB) testPKI {
	p := pki.New(t)
	return testPKI{caFile: p.CAFile, certFile: p.CertFile, keyFile: p.KeyFile, server: p.Server}
}

// syslogServer is a minimal syslog receiver for conformance tests and
// benchmarks: octet-counted frames over TCP or TLS, datagrams over UDP.
// (The integration tests use rsyslog.)
type syslogServer struct {
	network string
	addr    string
	ln      net.Listener
	pc      net.PacketConn
	mu      sync.Mutex
	msgs    []string
	onMsg   func(msg []byte)
	wg      sync.WaitGroup
	conns   sync.Map
	hang    bool // accept, never read (and never handshake)
}

func startSyslogServer(t testing.TB, network string, pki *testPKI, hang bool) *syslogServer {
	t.Helper()
	s := &syslogServer{network: network, hang: hang}
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.pc, s.addr = pc, pc.LocalAddr().String()
		s.wg.Go(func() {
			buf := make([]byte, 65536)
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				s.add(buf[:n])
			}
		})
		t.Cleanup(s.Close)
		return s
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln, s.addr = ln, ln.Addr().String()
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Store(c, true)
			if s.hang {
				c.(*net.TCPConn).SetReadBuffer(4096)
				continue
			}
			if network == "tls" {
				c = tls.Server(c, &tls.Config{Certificates: []tls.Certificate{pki.server}})
			}
			s.wg.Go(func() { s.serve(c) })
		}
	})
	t.Cleanup(s.Close)
	return s
}

func (s *syslogServer) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		lenStr, err := br.ReadString(' ')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(lenStr))
		if err != nil || n < 0 || n > 1<<20 {
			return
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(br, msg); err != nil {
			return
		}
		s.add(msg)
	}
}

func (s *syslogServer) add(msg []byte) {
	if s.onMsg != nil {
		s.onMsg(msg)
		return
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, string(msg))
	s.mu.Unlock()
}

func (s *syslogServer) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

func (s *syslogServer) Close() {
	if s.ln != nil {
		s.ln.Close()
	}
	if s.pc != nil {
		s.pc.Close()
	}
	s.conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
	s.wg.Wait()
}

// httpMode is how httpReceiver answers.
type httpMode int32

const (
	modeOK          httpMode = iota
	modeUnavailable          // 503
	modeThrottled            // 429
	modeTimeout              // 408
	modeRejected             // 400
	modeHang                 // never answers
	modeTokenDenied          // the token endpoint answers 401
	modeBulkPartial          // _bulk answers 200 with per-item errors
)

// httpReceiver speaks the wire formats of every HTTP sink: a webhook
// (any path), Splunk HEC (/services/collector/event), the Azure token
// endpoint (/{tenant}/oauth2/v2.0/token) and Logs Ingestion API
// (/dataCollectionRules/...), and Elasticsearch (/_bulk). Failure
// answers echo the request's Authorization header and body, the way a
// careless receiver might, so tests can check that sinks scrub them.
type httpReceiver struct {
	*httptest.Server
	mode     atomic.Int32
	mu       sync.Mutex
	requests []receivedRequest
	tokens   atomic.Int32 // tokens issued
	// tokenTTL is the expires_in of issued tokens (default 3599).
	tokenTTL atomic.Int32
	// verify, when set, checks each non-token request and answers 401
	// when it returns an error.
	verify atomic.Pointer[func(r *http.Request, body []byte) error]
}

func (h *httpReceiver) setVerify(f func(r *http.Request, body []byte) error) {
	if f == nil {
		h.verify.Store(nil)
		return
	}
	h.verify.Store(&f)
}

type receivedRequest struct {
	path, query string
	header      http.Header
	body        []byte
}

const (
	azureTenant = "tenant-1"
	azureDCR    = "dcr-0123456789abcdef0123456789abcdef"
	azureStream = "Custom-BulwarkAlerts"
	azureToken  = "eyJ0eXAiOiJKV1Qi.access-token-secret"
)

func newHTTPReceiver(t testing.TB, useTLS bool) *httpReceiver {
	t.Helper()
	h := &httpReceiver{}
	h.tokenTTL.Store(3599)
	h.Server = httptest.NewUnstartedServer(http.HandlerFunc(h.serve))
	h.Config.ErrorLog = log.New(io.Discard, "", 0)
	if useTLS {
		h.StartTLS()
	} else {
		h.Start()
	}
	t.Cleanup(h.Close)
	return h
}

func (h *httpReceiver) setMode(m httpMode) { h.mode.Store(int32(m)) }

func (h *httpReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mode := httpMode(h.mode.Load())
	echo := fmt.Sprintf("auth=%q body=%q", r.Header.Get("Authorization"), body)

	if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		form, _ := url.ParseQuery(string(body))
		switch {
		case mode == modeTokenDenied:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided. " + echo})
		case r.Method != http.MethodPost || r.URL.Path != "/"+azureTenant+"/oauth2/v2.0/token" ||
			r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
			form.Get("grant_type") != "client_credentials" || form.Get("client_id") == "" || form.Get("client_secret") == "" ||
			form.Get("scope") != "https://monitor.azure.com//.default":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":"invalid_request","error_description":"bad token request %s"}`, r.URL.Path)
		default:
			h.tokens.Add(1)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":%d,"ext_expires_in":%d,"access_token":"%s-%d"}`,
				h.tokenTTL.Load(), h.tokenTTL.Load(), azureToken, h.tokens.Load())
		}
		return
	}

	switch mode {
	case modeHang:
		// Never answer: when the client gives up, drop the connection
		// rather than send the implicit 200 of a returning handler.
		<-r.Context().Done()
		panic(http.ErrAbortHandler)
	case modeUnavailable:
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, echo)
		return
	case modeThrottled:
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, echo)
		return
	case modeTimeout:
		w.WriteHeader(http.StatusRequestTimeout)
		io.WriteString(w, echo)
		return
	case modeRejected:
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, echo)
		return
	}
	if v := h.verify.Load(); v != nil {
		if err := (*v)(r, body); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, err.Error())
			return
		}
	}
	h.mu.Lock()
	h.requests = append(h.requests, receivedRequest{path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(), body: body})
	h.mu.Unlock()

	switch {
	case strings.HasSuffix(r.URL.Path, "/_bulk"):
		h.answerBulk(w, body, mode == modeBulkPartial)
	case strings.HasSuffix(r.URL.Path, "/services/collector/event"):
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"text":"Success","code":0}`)
	case strings.HasPrefix(r.URL.Path, "/dataCollectionRules/"):
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// answerBulk answers an Elasticsearch _bulk request; partial answers
// item i with 201, 429 (retry), 400 (mapping error) or 409 (already
// created) by i mod 4.
func (h *httpReceiver) answerBulk(w http.ResponseWriter, body []byte, partial bool) {
	lines := strings.Split(strings.TrimRight(string(body), "\n"), "\n")
	type item struct {
		Index  string         `json:"_index"`
		ID     string         `json:"_id"`
		Status int            `json:"status"`
		Error  map[string]any `json:"error,omitempty"`
	}
	var items []map[string]item
	hasErr := false
	for i := 0; i+1 < len(lines); i += 2 {
		var act map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		json.Unmarshal([]byte(lines[i]), &act)
		it := item{Index: act["create"].Index, ID: act["create"].ID, Status: 201}
		if partial {
			switch (i / 2) % 4 {
			case 1:
				it.Status, it.Error = 429, map[string]any{"type": "es_rejected_execution_exception", "reason": "rejected execution"}
			case 2:
				it.Status, it.Error = 400, map[string]any{"type": "mapper_parsing_exception", "reason": "failed to parse field [source.ip]"}
			case 3:
				it.Status, it.Error = 409, map[string]any{"type": "version_conflict_engine_exception", "reason": "document already exists"}
			}
		}
		hasErr = hasErr || it.Error != nil
		items = append(items, map[string]item{"create": it})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"took": 3, "errors": hasErr, "items": items})
}

func (h *httpReceiver) received() []receivedRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]receivedRequest(nil), h.requests...)
}
