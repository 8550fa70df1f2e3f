package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// HubPath is where every target serves the conformance hub.
const HubPath = "/hubs/conformance"

// Target is a server under test: a binary and its arguments (without
// -addr, which Start adds).
type Target struct {
	Name string
	Bin  string
	Args []string
	// Messagepack is false when the target is known not to speak it.
	NoMessagePack bool
}

// ErrTargetMissing is returned by BuildTarget when the target's sources are
// not in this tree.
var ErrTargetMissing = errors.New("bench: target sources missing")

// TargetNames are the targets BuildTarget knows.
var TargetNames = []string{"actorhub", "philippseith", "raw"}

// BuildTarget builds the named target from the module at root into dir
// with the go command. actorhub is ./cmd/server; raw is ./bench/raw;
// philippseith is bench/peers/philippseith, a module of its own.
func BuildTarget(ctx context.Context, name, root, dir string) (Target, error) {
	t := Target{Name: name, Bin: filepath.Join(dir, name)}
	var pkgDir, pkg string
	switch name {
	case "actorhub":
		pkgDir, pkg = root, "./cmd/server"
		// Keep-alive pings (SignalR's and TCP's) and client timeouts out
		// of the way, room for 2 KB broadcasts queued to slow readers, GC
		// reachable through pprof. TCP keep-alive: Go's 15 s probes on
		// 500,000 idle loopback sockets overflow the loopback backlog on
		// two busy cores; after 9 lost probes the kernel aborts the server
		// side, its RST is lost too, and the client never knows.
		t.Args = []string{"-conformance", "-keepalive", "1h", "-client-timeout", "2h", "-handshake-timeout", "1m", "-tcp-keepalive", "-1s",
			"-max-buffered", strconv.Itoa(16 << 20), "-pprof", "-log-level", "warn"}
	case "raw":
		pkgDir, pkg = root, "./bench/raw"
	case "philippseith":
		pkgDir, pkg = filepath.Join(root, "bench", "peers", "philippseith"), "."
	default:
		return t, fmt.Errorf("bench: unknown target %q (known: %s)", name, strings.Join(TargetNames, ", "))
	}
	probe := filepath.Join(pkgDir, strings.TrimPrefix(pkg, "./"))
	if ents, err := filepath.Glob(filepath.Join(probe, "*.go")); err != nil || len(ents) == 0 {
		return t, fmt.Errorf("%w: %s: no Go files in %s (not merged into this branch yet?)", ErrTargetMissing, name, probe)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", t.Bin, pkg)
	cmd.Dir = pkgDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return t, fmt.Errorf("bench: building %s: %v\n%s", name, err, out)
	}
	return t, nil
}

// children are the process groups this process started; KillChildren
// ends them all (on SIGINT or SIGTERM).
var (
	childMu  sync.Mutex
	children = map[int]bool{} // process group ids; guarded by childMu
)

func addChild(pid int) {
	childMu.Lock()
	children[pid] = true
	childMu.Unlock()
}

func removeChild(pid int) {
	childMu.Lock()
	delete(children, pid)
	childMu.Unlock()
}

// KillChildren sends SIGKILL to the process group of every process this
// package started and not yet reaped.
func KillChildren() {
	childMu.Lock()
	defer childMu.Unlock()
	for pgid := range children {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// startGroup starts cmd in a process group of its own and records it
// (keeping the user it may have been given to run as).
func startGroup(cmd *exec.Cmd) error {
	var cred *syscall.Credential
	if cmd.SysProcAttr != nil {
		cred = cmd.SysProcAttr.Credential
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := cmd.Start(); err != nil {
		return err
	}
	addChild(cmd.Process.Pid)
	return nil
}

// Server is a running target process.
type Server struct {
	Target Target
	Addr   string // host:port it listens on
	PID    int

	cmd  *exec.Cmd
	done chan struct{}
	err  error // how it exited; set before done is closed

	mu   sync.Mutex
	tail []string // the last lines of its stderr; guarded by mu

	tree    bool   // Sample counts the process's descendants (PostgreSQL's backends)
	cleanup func() // after Stop: remove what it kept on disk
}

// Start runs the target on addr ("127.0.0.1:0" picks a port) and waits
// until it prints "listening on HOST:PORT".
func Start(t Target, addr string) (*Server, error) {
	return StartEnv(t, addr, nil)
}

// StartEnv is Start with env added to the target's environment.
func StartEnv(t Target, addr string, env []string) (*Server, error) {
	cmd := exec.Command(t.Bin, append(append([]string{}, t.Args...), "-addr", addr)...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	return startProcess(t, cmd, func(line string) (string, bool) {
		a, ok := strings.CutPrefix(line, "listening on ")
		return strings.TrimSpace(a), ok
	})
}

// startProcess starts cmd in its own process group, its stdout and stderr
// merged into one pipe, and waits until ready finds the line that gives
// its address.
func startProcess(t Target, cmd *exec.Cmd, ready func(line string) (addr string, ok bool)) (*Server, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = startGroup(cmd)
	pw.Close() // the child holds its own copy
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("bench: starting %s: %w", t.Name, err)
	}
	s := &Server{Target: t, PID: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
	listening := make(chan string, 1)
	// Owner: the Server. It reads the process's output until it exits,
	// reaps it and closes done; Stop waits for done.
	go func() {
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := ready(line); ok {
				select {
				case listening <- a:
				default:
				}
			}
			s.mu.Lock()
			s.tail = append(s.tail, line)
			if len(s.tail) > 20 {
				s.tail = s.tail[1:]
			}
			s.mu.Unlock()
		}
		s.err = cmd.Wait()
		removeChild(s.PID)
		close(s.done)
	}()
	select {
	case a := <-listening:
		s.Addr = a
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("bench: %s exited before listening (%v): %s", t.Name, s.err, s.StderrTail())
	case <-time.After(30 * time.Second):
		s.Stop()
		return nil, fmt.Errorf("bench: %s did not say it was listening within 30 s: %s", t.Name, s.StderrTail())
	}
}

// URL is the hub's URL.
func (s *Server) URL() string { return "http://" + s.Addr + HubPath }

// StderrTail is the last lines the server wrote on stderr.
func (s *Server) StderrTail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}

// Exited reports whether the server has ended, and how.
func (s *Server) Exited() (bool, error) {
	select {
	case <-s.done:
		return true, s.err
	default:
		return false, nil
	}
}

// Stop ends the server: SIGTERM to its process group, SIGKILL after 3 s.
func (s *Server) Stop() {
	defer func() {
		if s.cleanup != nil {
			s.cleanup()
			s.cleanup = nil
		}
	}()
	if done, _ := s.Exited(); done {
		return
	}
	_ = syscall.Kill(-s.PID, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-s.PID, syscall.SIGKILL)
		<-s.done
	}
	_ = syscall.Kill(-s.PID, syscall.SIGKILL) // what the leader left (a postmaster's backends)
}

// Sample reads the server's CPU and RSS from /proc.
func (s *Server) Sample() (ProcSample, error) {
	if s.tree {
		return ReadProcTree(s.PID)
	}
	return ReadProc(s.PID)
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// Metrics scrapes GET /metrics: every sample by name, labels included
// as written (`actorhub_connections{hub="conformance"}`).
func (s *Server) Metrics() (map[string]float64, error) {
	resp, err := httpClient.Get("http://" + s.Addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: GET /metrics: %s", resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		var name, val string
		if i := strings.LastIndexByte(line, '}'); i >= 0 {
			name, val = line[:i+1], strings.TrimSpace(line[i+1:])
		} else {
			var ok bool
			if name, val, ok = strings.Cut(line, " "); !ok {
				continue
			}
		}
		if val == "" {
			continue
		}
		if v, err := strconv.ParseFloat(strings.Fields(val)[0], 64); err == nil {
			m[name] = v
		}
	}
	return m, sc.Err()
}

// GC asks the server to collect garbage through pprof's heap profile
// (?gc=1); it reports false when the server does not serve pprof.
func (s *Server) GC() bool {
	resp, err := httpClient.Get("http://" + s.Addr + "/debug/pprof/heap?gc=1")
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Profile writes a CPU profile of d seconds to path (needs pprof).
func (s *Server) Profile(path string, d time.Duration) error {
	return s.savePprof(fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())), path, d+30*time.Second)
}

// HeapProfile writes the server's heap profile, taken after a GC, to path
// (needs pprof).
func (s *Server) HeapProfile(path string) error {
	return s.savePprof("/debug/pprof/heap?gc=1", path, time.Minute)
}

// savePprof writes what the server's pprof endpoint at uri answers to path.
func (s *Server) savePprof(uri, path string, timeout time.Duration) error {
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get("http://" + s.Addr + uri)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bench: profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func killGroup(pgid int) error { return syscall.Kill(-pgid, syscall.SIGKILL) }

func timeAfter(seconds int) <-chan time.Time { return time.After(time.Duration(seconds) * time.Second) }
