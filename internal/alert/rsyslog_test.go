package alert

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/detect"
	"github.com/bulwark-k8s/bulwark/internal/testutil/rsyslog"
)

// startRsyslog runs a real syslog receiver, Debian's rsyslogd.
func startRsyslog(t *testing.T) *rsyslog.Server { return rsyslog.Start(t) }

var sdIDParam = regexp.MustCompile(`\bid="([^"]+)"`)

// receivedIDs counts the alert IDs rsyslog received on an input.
func receivedIDs(r *rsyslog.Server, input string) map[string]int {
	ids := map[string]int{}
	for _, l := range r.Lines() {
		if l.Input != input {
			continue
		}
		if m := sdIDParam.FindStringSubmatch(l.SD); m != nil {
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
	}{{"udp", rs.UDP}, {"tcp", rs.TCP}, {"tls", rs.TLS}} {
		t.Run(tc.network, func(t *testing.T) {
			cfg := Config{Spool: SpoolConfig{Dir: t.TempDir()}, Sinks: []SinkConfig{{Name: "siem", Type: "syslog",
				Syslog: &SyslogConfig{Network: tc.network, Address: tc.addr, Facility: "local4", Hostname: "bulwark-node",
					TLS: TLSConfig{CAFile: rs.CAFile, ServerName: "localhost"}}}}}
			r, _, stop := runRouter(t, cfg, WithVersion("9.9.9"))
			alerts := rsyslogAlerts(tc.network, 40)
			for i := 0; i < len(alerts); i += 10 {
				if err := r.Send(context.Background(), alerts[i:i+10]...); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, 10*time.Second, func() bool { return len(receivedIDs(rs, tc.network)) == len(alerts) },
				fmt.Sprintf("rsyslog received %d alerts over %s", len(alerts), tc.network))
			stop()

			byID := map[string]rsyslog.Line{}
			for _, l := range rs.Lines() {
				if m := sdIDParam.FindStringSubmatch(l.SD); l.Input == tc.network && m != nil {
					byID[m[1]] = l
				}
			}
			for _, a := range alerts {
				l, ok := byID[a.ID]
				if !ok {
					t.Fatalf("alert %s missing", a.ID)
				}
				wantPRI := strconv.Itoa(20*8 + int(a.Priority))
				if l.PRI != wantPRI || l.Hostname != "bulwark-node" || l.App != "bulwark" || l.MsgID != "BW-DET-001" ||
					l.ProcID != strconv.Itoa(os.Getpid()) {
					t.Errorf("header as parsed by rsyslog: %+v (want PRI %s)", l, wantPRI)
				}
				if ts, err := time.Parse(time.RFC3339Nano, l.Timestamp); err != nil || !ts.Equal(a.Time.Truncate(time.Microsecond)) {
					t.Errorf("timestamp %q, want %v", l.Timestamp, a.Time)
				}
				// rsyslog kept our structured data as one element, with
				// its escapes, so it parsed it as RFC 5424 SD.
				var sd []byte
				sd = (&rfc5424{sdID: "bulwark@32473"}).appendSD(sd, &a)
				if l.SD != string(sd) {
					t.Errorf("structured data\n got %s\nwant %s", l.SD, sd)
				}
				wantMsg := string(appendCEF(nil, &a, "9.9.9"))
				if l.Msg != wantMsg {
					t.Errorf("message\n got %q\nwant %q", l.Msg, wantMsg)
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
		Syslog: &SyslogConfig{Network: "tcp", Address: rs.TCP}}}}
	r, logs, stop := runRouter(t, cfg)
	ctx := context.Background()

	before := rsyslogAlerts("before", 20)
	if err := r.Send(ctx, before...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return len(receivedIDs(rs, "tcp")) == 20 }, "the first 20 alerts")

	rs.Stop()
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
	rs.Start()
	t.Logf("receiver down for %v", time.Since(down).Round(time.Millisecond))

	after := rsyslogAlerts("after", 10)
	if err := r.Send(ctx, after...); err != nil {
		t.Fatal(err)
	}
	all := append(append(append([]Alert{}, before...), during...), after...)
	waitFor(t, 20*time.Second, func() bool { return len(receivedIDs(rs, "tcp")) == len(all) }, "every alert after the restart")
	ids := receivedIDs(rs, "tcp")
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
