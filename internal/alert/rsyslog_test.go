package alert

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/detect"
)

// rsyslog is a real syslog receiver: Debian's rsyslogd, configured in a
// temporary directory to listen on loopback for UDP, TCP (octet counting)
// and TLS, and to write every message it parses to a file, one line per
// message: the input, PRI, TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID,
// STRUCTURED-DATA and MSG as rsyslog parsed them, separated by "|~|".
type rsyslog struct {
	t                 *testing.T
	dir, conf, output string
	udp, tcp, tls     string // host:port
	pki               testPKI
	cmd               *exec.Cmd
	exited            chan struct{}
	stderr            *bytes.Buffer
}

// rsyslogLine is one message as rsyslog parsed it.
type rsyslogLine struct {
	input, pri, timestamp, hostname, app, procID, msgID, sd, msg string
}

// rsyslogd finds the daemon; make test installs it (mk/alert.mk).
func rsyslogd(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"rsyslogd", "/usr/sbin/rsyslogd", "/sbin/rsyslogd"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("rsyslogd not found: run `make alert-test-deps` (it installs Debian's rsyslog and rsyslog-openssl)")
	return ""
}

func freePort(t *testing.T, network string) string {
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

func startRsyslog(t *testing.T) *rsyslog {
	t.Helper()
	r := &rsyslog{t: t, dir: t.TempDir(), pki: newTestPKI(t)}
	r.udp, r.tcp, r.tls = freePort(t, "udp"), freePort(t, "tcp"), freePort(t, "tcp")
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
`, r.dir, r.pki.caFile, r.pki.certFile, r.pki.keyFile, port(r.udp), port(r.tcp), port(r.tls), r.output)
	if err := os.WriteFile(r.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *rsyslog) start() {
	t := r.t
	t.Helper()
	r.stderr = &bytes.Buffer{}
	r.cmd = exec.Command(rsyslogd(t), "-n", "-f", r.conf, "-i", filepath.Join(r.dir, "rsyslogd.pid"))
	r.cmd.Stdout, r.cmd.Stderr = r.stderr, r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { r.cmd.Wait(); close(exited) }()
	cmd := r.cmd
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

func (r *rsyslog) ready(i int) bool {
	for _, addr := range []string{r.tcp, r.tls} {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
	}
	probe := fmt.Sprintf("<13>1 - - probe - PROBE - ready %d", i)
	if c, err := net.Dial("udp", r.udp); err == nil {
		c.Write([]byte(probe))
		c.Close()
	}
	time.Sleep(20 * time.Millisecond)
	data, _ := os.ReadFile(r.output)
	return bytes.Contains(data, []byte("udp|~|13|~|")) && bytes.Contains(data, []byte("|~|PROBE|~|"))
}

// stop stops rsyslogd (SIGTERM, as a service manager would) and waits.
func (r *rsyslog) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-r.exited
	}
	r.cmd = nil
}

// lines returns the messages received, probes left out.
func (r *rsyslog) lines() []rsyslogLine {
	f, err := os.Open(r.output)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []rsyslogLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		p := strings.SplitN(sc.Text(), "|~|", 9)
		if len(p) != 9 || p[6] == "PROBE" {
			continue
		}
		out = append(out, rsyslogLine{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]})
	}
	return out
}

var sdIDParam = regexp.MustCompile(`\bid="([^"]+)"`)

// receivedIDs counts the alert IDs rsyslog received on an input.
func (r *rsyslog) receivedIDs(input string) map[string]int {
	ids := map[string]int{}
	for _, l := range r.lines() {
		if l.input != input {
			continue
		}
		if m := sdIDParam.FindStringSubmatch(l.sd); m != nil {
			ids[m[1]]++
		}
	}
	return ids
}

// rsyslogAlerts are alerts whose text stresses the framing and escaping:
// newlines, '=', '|', '\', ']' and '"' in the output and rule, and a
// multi-byte character.
func rsyslogAlerts(prefix string, n int) []Alert {
	out := make([]Alert, n)
	for i := range out {
		a := execAlert()
		a.AuditID = fmt.Sprintf("%s-%d", prefix, i)
		a.Priority = detect.Priority(i % 8)
		if i%5 == 0 {
			a.Output = "line one\nline two = \"quoted\" | pipe \\ back ] bracket — ü"
			a.Rule = `rule "with" ] and \ and |`
		}
		a.ID = a.StableID()
		out[i] = a
	}
	return out
}

func TestRsyslogReceivesEveryTransport(t *testing.T) {
	rs := startRsyslog(t)
	for _, tc := range []struct {
		network, addr string
	}{{"udp", rs.udp}, {"tcp", rs.tcp}, {"tls", rs.tls}} {
		t.Run(tc.network, func(t *testing.T) {
			cfg := Config{Spool: SpoolConfig{Dir: t.TempDir()}, Sinks: []SinkConfig{{Name: "siem", Type: "syslog",
				Syslog: &SyslogConfig{Network: tc.network, Address: tc.addr, Facility: "local4", Hostname: "bulwark-node",
					TLS: TLSConfig{CAFile: rs.pki.caFile, ServerName: "localhost"}}}}}
			r, _, stop := runRouter(t, cfg, WithVersion("9.9.9"))
			alerts := rsyslogAlerts(tc.network, 40)
			for i := 0; i < len(alerts); i += 10 {
				if err := r.Send(context.Background(), alerts[i:i+10]...); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, 10*time.Second, func() bool { return len(rs.receivedIDs(tc.network)) == len(alerts) },
				fmt.Sprintf("rsyslog received %d alerts over %s", len(alerts), tc.network))
			stop()

			byID := map[string]rsyslogLine{}
			for _, l := range rs.lines() {
				if m := sdIDParam.FindStringSubmatch(l.sd); l.input == tc.network && m != nil {
					byID[m[1]] = l
				}
			}
			for _, a := range alerts {
				l, ok := byID[a.ID]
				if !ok {
					t.Fatalf("alert %s missing", a.ID)
				}
				wantPRI := strconv.Itoa(20*8 + int(a.Priority))
				if l.pri != wantPRI || l.hostname != "bulwark-node" || l.app != "bulwark" || l.msgID != "BW-DET-001" ||
					l.procID != strconv.Itoa(os.Getpid()) {
					t.Errorf("header as parsed by rsyslog: %+v (want PRI %s)", l, wantPRI)
				}
				if ts, err := time.Parse(time.RFC3339Nano, l.timestamp); err != nil || !ts.Equal(a.Time.Truncate(time.Microsecond)) {
					t.Errorf("timestamp %q, want %v", l.timestamp, a.Time)
				}
				// rsyslog kept our structured data as one element, with
				// its escapes, so it parsed it as RFC 5424 SD.
				var sd []byte
				sd = (&rfc5424{sdID: "bulwark@32473"}).appendSD(sd, &a)
				if l.sd != string(sd) {
					t.Errorf("structured data\n got %s\nwant %s", l.sd, sd)
				}
				wantMsg := string(appendCEF(nil, &a, "9.9.9"))
				if l.msg != wantMsg {
					t.Errorf("message\n got %q\nwant %q", l.msg, wantMsg)
				}
			}
		})
	}
}

// TestSyslogReceiverOutage stops the SIEM's syslog receiver for several
// seconds while alerts keep coming, restarts it, and checks that every
// alert sent meanwhile is delivered: spooled, retried with backoff, and
// sent on a new connection once the receiver is back.
func TestSyslogReceiverOutage(t *testing.T) {
	rs := startRsyslog(t)
	spool := t.TempDir()
	cfg := Config{Spool: SpoolConfig{Dir: spool}, Sinks: []SinkConfig{{Name: "siem", Type: "syslog", Timeout: Duration(2 * time.Second),
		Retry:  RetryConfig{InitialBackoff: Duration(100 * time.Millisecond), MaxBackoff: Duration(time.Second)},
		Syslog: &SyslogConfig{Network: "tcp", Address: rs.tcp}}}}
	r, logs, stop := runRouter(t, cfg)
	ctx := context.Background()

	before := rsyslogAlerts("before", 20)
	if err := r.Send(ctx, before...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return len(rs.receivedIDs("tcp")) == 20 }, "the first 20 alerts")

	rs.stop()
	down := time.Now()
	during := rsyslogAlerts("during", 30)
	for i, a := range during {
		if err := r.Send(ctx, a); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			time.Sleep(time.Second)
		}
	}
	time.Sleep(4*time.Second - time.Since(down))
	if got := metricValue(t, r, "bulwark_alert_spooled_bytes", nil); got == 0 {
		t.Error("nothing spooled while the receiver is down")
	}
	if got := metricValue(t, r, "bulwark_alert_retried_total", nil); got == 0 {
		t.Error("no retries while the receiver is down")
	}
	rs.start()
	t.Logf("receiver down for %v", time.Since(down).Round(time.Millisecond))

	after := rsyslogAlerts("after", 10)
	if err := r.Send(ctx, after...); err != nil {
		t.Fatal(err)
	}
	all := append(append(append([]Alert{}, before...), during...), after...)
	waitFor(t, 20*time.Second, func() bool { return len(rs.receivedIDs("tcp")) == len(all) }, "every alert after the restart")
	ids := rs.receivedIDs("tcp")
	dups := 0
	for _, a := range all {
		if ids[a.ID] == 0 {
			t.Errorf("alert %s (%s) lost", a.ID, a.AuditID)
		}
		dups += ids[a.ID] - 1
	}
	t.Logf("%d alerts delivered, %d duplicates", len(all), dups)
	stop()
	if !strings.Contains(logs.String(), "alert_send_failed") {
		t.Errorf("the outage was not logged:\n%s", logs)
	}
}
