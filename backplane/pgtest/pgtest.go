// Package pgtest starts real PostgreSQL servers (Debian's packages) for
// tests and benchmarks: initdb into a temporary directory, postgres on a
// free loopback port with its socket in that directory, stopped and
// removed when the test ends. As root, the server runs as the postgres
// user (PostgreSQL refuses to run as root).
package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Binary finds a PostgreSQL program: on PATH, else in the newest
// /usr/lib/postgresql/<version>/bin (where Debian puts them).
func Binary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if p := filepath.Join(d, name); isExec(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("pgtest: %s not found on PATH nor in /usr/lib/postgresql/*/bin (./test.sh installs it: apt-get install -y postgresql)", name)
}

func version(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode()&0o111 != 0
}

// credential is who the server runs as: the postgres user when this
// process is root, else this process' user.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root needs the postgres user (created by Debian's postgresql package): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// Dir makes a directory for a server (its data and socket), owned by the
// user the server runs as.
func Dir() (string, error) {
	dir, err := os.MkdirTemp("", "actorhub-pg-")
	if err != nil {
		return "", err
	}
	cred, err := credential()
	if err == nil && cred != nil {
		if err = os.Chmod(dir, 0o755); err == nil {
			err = os.Chown(dir, int(cred.Uid), int(cred.Gid))
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// InitDB makes a cluster in dir/data: superuser postgres, trust
// authentication (loopback and the socket only), UTF-8.
func InitDB(dir string) error {
	bin, err := Binary("initdb")
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C")
	if cmd.SysProcAttr, err = sysProcAttr(); err != nil {
		return err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %v: %s", err, out)
	}
	return nil
}

func sysProcAttr() (*syscall.SysProcAttr, error) {
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true}, nil
}

// Command is the server of the cluster in dir, on 127.0.0.1:port, its
// socket in dir, tuned for tests (no fsync). It logs to stderr; it is
// ready when it prints "database system is ready to accept connections".
func Command(dir string, port int) (*exec.Cmd, error) {
	bin, err := Binary("postgres")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-D", filepath.Join(dir, "data"), "-k", dir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=64MB")
	if cmd.SysProcAttr, err = sysProcAttr(); err != nil {
		return nil, err
	}
	return cmd, nil
}

// Ready is the line the server prints once it takes connections.
const Ready = "database system is ready to accept connections"

// URL is the address of the postgres database of a server on port.
func URL(port int) string {
	return "postgres://postgres@127.0.0.1:" + strconv.Itoa(port) + "/postgres?sslmode=disable"
}

// Server is a postgres process owned by a test.
type Server struct {
	t    testing.TB
	Dir  string
	Port int
	cmd  *exec.Cmd
	done chan struct{}
	log  *strings.Builder
}

// template is a cluster made once per test process (initdb takes
// seconds) and copied for each server: <tmp>/actorhub-pgtest-<pid>,
// removed by a later process once this one is gone.
var template struct {
	once sync.Once
	dir  string
	err  error
}

func makeTemplate() (string, error) {
	template.once.Do(func() {
		old, _ := filepath.Glob(filepath.Join(os.TempDir(), "actorhub-pgtest-*"))
		for _, d := range old {
			pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "actorhub-pgtest-"))
			if err == nil && syscall.Kill(pid, 0) == syscall.ESRCH {
				os.RemoveAll(d)
			}
		}
		dir := filepath.Join(os.TempDir(), "actorhub-pgtest-"+strconv.Itoa(os.Getpid()))
		os.RemoveAll(dir)
		if template.err = os.Mkdir(dir, 0o755); template.err != nil {
			return
		}
		if cred, err := credential(); err == nil && cred != nil {
			template.err = os.Chown(dir, int(cred.Uid), int(cred.Gid))
		}
		if template.err == nil {
			template.err = InitDB(dir)
		}
		template.dir = dir
	})
	return template.dir, template.err
}

// Start makes a cluster (a copy of one made by initdb once per test
// process) and runs its server on a free loopback port; the test fails
// when PostgreSQL is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	tmpl, err := makeTemplate()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// cp -a keeps the owner (the postgres user, when root).
	if out, err := exec.Command("cp", "-a", filepath.Join(tmpl, "data"), filepath.Join(dir, "data")).CombinedOutput(); err != nil {
		t.Fatalf("pgtest: copying the template: %v: %s", err, out)
	}
	s := &Server{t: t, Dir: dir}
	for attempt := 0; ; attempt++ {
		s.Port = freePort(t)
		err := s.run()
		if err == nil {
			break
		}
		if attempt == 4 {
			t.Fatalf("postgres would not start: %v", err)
		}
	}
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's postgres:// URL.
func (s *Server) URL() string { return URL(s.Port) }

// Stop shuts the server down (fast shutdown: clients are cut, the data
// stays); its port stays free for Restart.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	s.cmd = nil
}

// Restart starts the server again on the same port and data.
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	for range 50 { // the port may linger a moment
		if err = s.run(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("postgres would not restart on port %d: %v", s.Port, err)
}

// Exec runs SQL as the superuser; the test fails on an error.
func (s *Server) Exec(sql string, args ...any) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		s.t.Fatalf("%s: %v", sql, err)
	}
}

// QueryInt runs SQL that returns one integer, as the superuser.
func (s *Server) QueryInt(sql string, args ...any) int64 {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		s.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func (s *Server) run() error {
	cmd, err := Command(s.Dir, s.Port)
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
		s.cmd, s.done, s.log = cmd, done, log
		return nil
	case <-done:
		return fmt.Errorf("exited: %s", log.String())
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return errors.New("not ready after 30 s")
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

// Crash kills the server as a crash would (immediate shutdown: no
// checkpoint; on the next start the unlogged tables are emptied).
func (s *Server) Crash() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	s.cmd = nil
}

// URLAs is the server's URL for another role.
func (s *Server) URLAs(role string) string {
	return "postgres://" + role + "@127.0.0.1:" + strconv.Itoa(s.Port) + "/postgres?sslmode=disable"
}
