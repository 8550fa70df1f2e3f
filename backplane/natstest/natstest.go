// Package natstest starts real nats-server processes (Debian's
// nats-server package) with JetStream for tests and benchmarks, each on a
// free loopback port with its store in a temporary directory, stopped
// and removed when the test ends.
package natstest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Ready is the line nats-server prints once it takes connections.
const Ready = "Server is ready"

// Command is a nats-server on 127.0.0.1:port with JetStream, its store in
// dir, and more arguments (nats-server --help). It logs to stderr.
func Command(dir string, port int, more ...string) (*exec.Cmd, error) {
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		return nil, fmt.Errorf("natstest: nats-server not found (./test.sh installs it: apt-get install -y nats-server): %w", err)
	}
	args := append([]string{"-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", dir}, more...)
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, nil
}

// URL is the address of a server on port.
func URL(port int) string { return "nats://127.0.0.1:" + strconv.Itoa(port) }

// Server is a nats-server process owned by a test.
type Server struct {
	t    testing.TB
	Dir  string
	Port int
	args []string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs a nats-server with JetStream on a free loopback port; more
// are more nats-server arguments. The test fails when nats-server is not
// installed.
func Start(t testing.TB, more ...string) *Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "actorhub-nats-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{t: t, Dir: dir, args: more}
	for attempt := 0; ; attempt++ {
		s.Port = freePort(t)
		err := s.run()
		if err == nil {
			break
		}
		if attempt == 4 {
			t.Fatalf("nats-server would not start: %v", err)
		}
	}
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's nats:// URL.
func (s *Server) URL() string { return URL(s.Port) }

// Stop kills the server; its port stays free for Restart.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

// Restart starts the server again on the same port and store.
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	for range 50 { // the port may linger a moment
		if err = s.run(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("nats-server would not restart on port %d: %v", s.Port, err)
}

func (s *Server) run() error {
	cmd, err := Command(s.Dir, s.Port, s.args...)
	if err != nil {
		return err
	}
	out, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	ready := make(chan struct{})
	log := &strings.Builder{}
	// Owner: the Server. It reads the process's output until the process
	// exits, reaps it and closes done; Stop waits for done.
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			if log.Len() < 8192 {
				log.WriteString(line + "\n")
			}
			if !signalled && strings.Contains(line, Ready) {
				signalled = true
				close(ready)
			}
		}
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case <-ready:
		s.cmd, s.done = cmd, done
		return nil
	case <-done:
		return fmt.Errorf("exited: %s", log.String())
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return errors.New("not ready after 15 s")
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
