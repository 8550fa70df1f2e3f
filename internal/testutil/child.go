package testutil

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Child is the test binary run again as a helper process, to hold what one
// process may not (a process may hold 20,000 files: the clients of a
// 10,000-connection test live in a child). It runs one test function, which
// does nothing unless its environment says so, and is spoken to in lines:
// commands on its stdin, answers on its stdout. An answer that starts with
// "fail" fails the test.
type Child struct {
	t        testing.TB
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	lines    *bufio.Scanner
	watchdog *time.Timer
	hangup   sync.Once
	stop     sync.Once
}

// StartChild runs test (a test function name) in a child process with env
// added to this one's. The child is killed if it is still running after
// timeout (the test then fails on its answers, not by hanging), and
// stopped when the test ends.
func StartChild(t testing.TB, test string, env []string, timeout time.Duration) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A timer, not exec.CommandContext: that would add a goroutine while
	// the child runs, and these tests count goroutines.
	c := &Child{t: t, cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout)}
	c.watchdog = time.AfterFunc(timeout, func() { _ = cmd.Process.Kill() })
	t.Cleanup(c.Stop)
	return c
}

// Send writes one command line.
func (c *Child) Send(format string, args ...any) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.stdin, format+"\n", args...); err != nil {
		c.t.Fatalf("helper process: %v", err)
	}
}

// Expect reads answers until one starts with prefix, and returns it.
func (c *Child) Expect(prefix string) string {
	c.t.Helper()
	for c.lines.Scan() {
		line := c.lines.Text()
		if strings.HasPrefix(line, prefix) {
			return line
		}
		if strings.HasPrefix(line, "fail") {
			c.t.Fatalf("helper process: %s", line)
		}
	}
	c.t.Fatalf("the helper process ended before %q: %v", prefix, c.lines.Err())
	return ""
}

// Hangup closes the child's stdin: the helpers here end when it closes.
func (c *Child) Hangup() { c.hangup.Do(func() { _ = c.stdin.Close() }) }

// Stop hangs up and waits for the child to exit. Later calls do nothing.
func (c *Child) Stop() {
	c.stop.Do(func() {
		c.Hangup()
		_ = c.cmd.Wait()
		c.watchdog.Stop()
	})
}
