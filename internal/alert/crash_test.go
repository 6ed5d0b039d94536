package alert

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The crash helper is this test binary started again with these
// variables set: it sends alerts through a router with a disk spool and
// prints "ack <id>" for each alert Router.Send accepted, until it is
// killed.
const (
	helperEnv    = "BULWARK_ALERT_CRASH_HELPER"
	helperSpool  = "BULWARK_ALERT_CRASH_SPOOL"
	helperTarget = "BULWARK_ALERT_CRASH_URL"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(crashHelper())
	}
	os.Exit(m.Run())
}

func crashConfig(spool, url string) Config {
	return Config{Cluster: "crash", Spool: SpoolConfig{Dir: spool, SegmentBytes: 64 << 10},
		Sinks: []SinkConfig{{Name: "hook", Type: "webhook", BatchSize: 20, Timeout: Duration(2 * time.Second),
			Retry:   RetryConfig{InitialBackoff: Duration(5 * time.Millisecond), MaxBackoff: Duration(50 * time.Millisecond)},
			Webhook: &WebhookConfig{Batch: true, HTTPConfig: HTTPConfig{URL: url}}}}}
}

func crashHelper() int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn + 1}))
	r, err := Build(crashConfig(os.Getenv(helperSpool), os.Getenv(helperTarget)), logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	go r.Run(context.Background())
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		a := execAlert()
		a.ID = fmt.Sprintf("crash-%d-%06d", os.Getpid(), i)
		a.Output = strings.Repeat("o", i%700) // records of varied sizes
		if err := r.Send(context.Background(), a); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		fmt.Fprintf(out, "ack %s\n", a.ID)
		out.Flush()
	}
}

// crashReceiver is a webhook receiver that records the alert IDs it
// accepted and, while flaky, fails two requests in three with a 503.
type crashReceiver struct {
	mu    sync.Mutex
	got   map[string]int
	n     atomic.Int64
	flaky atomic.Bool
}

func (c *crashReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if c.flaky.Load() && c.n.Add(1)%3 != 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var alerts []Alert
	if err := json.Unmarshal(body, &alerts); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, a := range alerts {
		c.got[a.ID]++
	}
	c.mu.Unlock()
}

func (c *crashReceiver) has(ids []string) (missing []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if c.got[id] == 0 {
			missing = append(missing, id)
		}
	}
	return missing
}

// TestSpoolSurvivesKill kills (SIGKILL) a process in the middle of
// spooling and delivering alerts to a flaky receiver, restarts a router on
// its spool, and checks that every alert the killed process acknowledged
// (Router.Send returned nil) reaches the receiver.
func TestSpoolSurvivesKill(t *testing.T) {
	recv := &crashReceiver{got: map[string]int{}}
	recv.flaky.Store(true)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	spool := t.TempDir()
	var all []string

	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=1", helperSpool+"="+spool, helperTarget+"="+srv.URL)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var acked []string
		sc := bufio.NewScanner(stdout)
		killAt := 400 + round*150
		for sc.Scan() {
			id, ok := strings.CutPrefix(sc.Text(), "ack ")
			if !ok {
				continue
			}
			acked = append(acked, id)
			if len(acked) == killAt {
				// Mid-stream: the helper is appending, fsyncing and
				// delivering while it dies.
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("helper did not die by SIGKILL: %v\n%s", err, stderr.String())
		}
		if len(acked) < killAt {
			t.Fatalf("helper acknowledged %d alerts before dying, want %d:\n%s", len(acked), killAt, stderr.String())
		}
		all = append(all, acked...)
		delivered := len(acked) - len(recv.has(acked))
		t.Logf("round %d: %d acknowledged, %d delivered before the kill", round, len(acked), delivered)

		// The next helper resumes from the spool; after the last, a
		// router in the test does, with the receiver healthy.
		if round < 2 {
			continue
		}
		recv.flaky.Store(false)
		_, _, stop := runRouter(t, crashConfig(spool, srv.URL))
		deadline := time.Now().Add(30 * time.Second)
		for {
			missing := recv.has(all)
			if len(missing) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d acknowledged alerts lost after the kill, e.g. %v", len(missing), missing[:min(5, len(missing))])
			}
			time.Sleep(20 * time.Millisecond)
		}
		stop()
		dups := 0
		recv.mu.Lock()
		for _, n := range recv.got {
			dups += n - 1
		}
		recv.mu.Unlock()
		t.Logf("all %d acknowledged alerts delivered after 3 kills (%d duplicates)", len(all), dups)
	}
}
