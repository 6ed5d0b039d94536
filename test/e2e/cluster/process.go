package cluster

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// process is one control-plane program running in its own process group,
// its output going to a log file. The goroutine started by startProcess
// owns cmd.Wait; stop signals the group and waits for that goroutine.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once cmd.Wait has returned
	waitErr error         // cmd.Wait's result, set before done is closed
}

// startProcess starts bin with args, appending its stdout and stderr to
// logPath.
func startProcess(name, logPath, bin string, args []string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: open log: %w", name, err)
	}
	fmt.Fprintf(logFile, "+ %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = ownGroup()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exited returns an error describing the exit if the process has ended.
func (p *process) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited early: %v", p.name, p.waitErr)
	default:
		return nil
	}
}

// stop asks the process group to terminate, kills it after grace, and
// returns once the process has been reaped. Anything else left in the group
// is killed too, so no descendant outlives the test.
func (p *process) stop(grace time.Duration) {
	pid := p.cmd.Process.Pid
	select {
	case <-p.done:
	default:
		signalGroup(p.cmd, pid, false)
		t := time.NewTimer(grace)
		select {
		case <-p.done:
		case <-t.C:
			signalGroup(p.cmd, pid, true)
			<-p.done
		}
		t.Stop()
	}
	signalGroup(p.cmd, pid, true)
}

// tail returns the last n lines of the process's log.
func (p *process) tail(n int) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return fmt.Sprintf("(read %s log: %v)", p.name, err)
	}
	defer f.Close()
	lines := make([]string, 0, n)
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		if len(lines) == n {
			lines = lines[1:]
		}
		lines = append(lines, s.Text())
	}
	return strings.Join(lines, "\n")
}
