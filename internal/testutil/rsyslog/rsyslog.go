// Package rsyslog runs a real syslog receiver for tests: Debian's
// rsyslogd (make test installs it, see mk/alert.mk), configured in a
// temporary directory to listen on loopback for UDP, TCP (octet counting)
// and TLS, and to write every message it parses to a file.
package rsyslog

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/testutil/pki"
)

// Server is a running rsyslogd. Each message it parses is one line of its
// output: the input, PRI, TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID,
// STRUCTURED-DATA and MSG as rsyslog parsed them, separated by "|~|".
type Server struct {
	// UDP, TCP and TLS are the host:port of each input; the inputs are
	// named "udp", "tcp" and "tls" in Line.Input.
	UDP, TCP, TLS string
	// CAFile is the PEM CA that signed the TLS input's certificate (for
	// localhost and 127.0.0.1).
	CAFile string

	t             testing.TB
	dir, conf     string
	output        string
	cmd           *exec.Cmd
	exited        chan struct{}
	stderr        *bytes.Buffer
	certFile, key string
}

// Line is one message as rsyslog parsed it.
type Line struct {
	Input, PRI, Timestamp, Hostname, App, ProcID, MsgID, SD, Msg string
}

// Daemon finds rsyslogd, failing the test when it is missing.
func Daemon(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"rsyslogd", "/usr/sbin/rsyslogd", "/sbin/rsyslogd"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("rsyslogd not found: run `make alert-test-deps` (it installs Debian's rsyslog and rsyslog-openssl)")
	return ""
}

func freeAddr(t testing.TB, network string) string {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().String()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Start runs rsyslogd until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	r := &Server{t: t, dir: t.TempDir()}
	p := pki.New(t)
	r.CAFile, r.certFile, r.key = p.CAFile, p.CertFile, p.KeyFile
	r.UDP, r.TCP, r.TLS = freeAddr(t, "udp"), freeAddr(t, "tcp"), freeAddr(t, "tcp")
	r.output = filepath.Join(r.dir, "received.log")
	r.conf = filepath.Join(r.dir, "rsyslog.conf")
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	conf := fmt.Sprintf(`global(workDirectory=%[1]q maxMessageSize="256k"
  defaultNetstreamDriverCAFile=%[2]q
  defaultNetstreamDriverCertFile=%[3]q
  defaultNetstreamDriverKeyFile=%[4]q)
module(load="imudp")
module(load="imtcp" maxSessions="200")
input(type="imudp" address="127.0.0.1" port=%[5]q ruleset="out" name="udp")
input(type="imtcp" address="127.0.0.1" port=%[6]q ruleset="out" name="tcp")
input(type="imtcp" address="127.0.0.1" port=%[7]q ruleset="out" name="tls"
  streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon")
template(name="fields" type="string"
  string="%%inputname%%|~|%%pri%%|~|%%timereported:::date-rfc3339%%|~|%%hostname%%|~|%%app-name%%|~|%%procid%%|~|%%msgid%%|~|%%structured-data%%|~|%%msg%%\n")
ruleset(name="out") {
  action(type="omfile" file=%[8]q template="fields" flushOnTXEnd="on" asyncWriting="off")
}
`, r.dir, r.CAFile, r.certFile, r.key, port(r.UDP), port(r.TCP), port(r.TLS), r.output)
	if err := os.WriteFile(r.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start starts rsyslogd again after Stop, on the same ports, and waits
// until every input takes messages.
func (r *Server) Start() {
	t := r.t
	t.Helper()
	r.stderr = &bytes.Buffer{}
	r.cmd = exec.Command(Daemon(t), "-n", "-f", r.conf, "-i", filepath.Join(r.dir, "rsyslogd.pid"))
	r.cmd.Stdout, r.cmd.Stderr = r.stderr, r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	cmd := r.cmd
	go func() { _ = cmd.Wait(); close(exited) }()
	// Ready when both stream ports accept and a UDP probe comes through.
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		select {
		case <-exited:
			t.Fatalf("rsyslogd exited: %v\n%s", cmd.ProcessState, r.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd not ready after 15s:\n%s", r.stderr)
		}
		if r.ready(i) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.exited = exited
}

func (r *Server) ready(i int) bool {
	for _, addr := range []string{r.TCP, r.TLS} {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
	}
	probe := fmt.Sprintf("<13>1 - - probe - PROBE - ready %d", i)
	if c, err := net.Dial("udp", r.UDP); err == nil {
		_, _ = c.Write([]byte(probe))
		c.Close()
	}
	time.Sleep(20 * time.Millisecond)
	data, _ := os.ReadFile(r.output)
	return bytes.Contains(data, []byte("udp|~|13|~|")) && bytes.Contains(data, []byte("|~|PROBE|~|"))
}

// Stop stops rsyslogd (SIGTERM, as a service manager would) and waits.
func (r *Server) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
	r.cmd = nil
}

// Lines returns the messages received, readiness probes left out.
func (r *Server) Lines() []Line {
	f, err := os.Open(r.output)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []Line
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		p := strings.SplitN(sc.Text(), "|~|", 9)
		if len(p) != 9 || p[6] == "PROBE" {
			continue
		}
		out = append(out, Line{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]})
	}
	return out
}
