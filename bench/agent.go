package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"
)

// agentRequest and agentReply are the JSON lines between a coordinator
// and an agent. Requests may overlap; replies carry the request's id.
type agentRequest struct {
	ID        int64         `json:"id"`
	Op        string        `json:"op"` // open, connect, cancel, profile, stats, reset, close
	Config    *LoaderConfig `json:"config,omitempty"`
	URL       string        `json:"url,omitempty"` // connect: the hub ("": the config's)
	N         int           `json:"n,omitempty"`
	GroupSize int           `json:"group_size,omitempty"`
	Offset    int           `json:"offset,omitempty"`
	Hist      bool          `json:"hist,omitempty"`
	Path      string        `json:"path,omitempty"`    // profile: where the CPU profile goes
	Seconds   int           `json:"seconds,omitempty"` // profile: how long
}

type agentReply struct {
	ID    int64  `json:"id"`
	Error string `json:"error,omitempty"`
	Stats *Stats `json:"stats,omitempty"`
}

// ServeAgent is an agent's main loop: it serves requests from r, writing
// replies to w, until r ends or a close request is served.
func ServeAgent(r io.Reader, w io.Writer) error {
	var (
		wmu      sync.Mutex
		enc      = json.NewEncoder(w)
		mu       sync.Mutex
		loader   *PoolLoader // guarded by mu
		cpu0     = SelfCPU()
		wg       sync.WaitGroup
		closing  atomic.Bool
		ctx, end = context.WithCancel(context.Background())
	)
	defer end()
	// cancel ends the connects under way (they return an error) and not
	// the later ones.
	var (
		cmu             sync.Mutex
		cctx, cancelCtx = context.WithCancel(ctx)
	)
	connectCtx := func() context.Context {
		cmu.Lock()
		defer cmu.Unlock()
		return cctx
	}
	cancelConnects := func() {
		cmu.Lock()
		defer cmu.Unlock()
		cancelCtx()
		cctx, cancelCtx = context.WithCancel(ctx)
	}
	defer func() { cancelConnects() }()
	reply := func(rep agentReply) {
		wmu.Lock()
		_ = enc.Encode(rep)
		wmu.Unlock()
	}
	get := func() (*PoolLoader, error) {
		mu.Lock()
		defer mu.Unlock()
		if loader == nil {
			return nil, errors.New("bench: agent: no open request yet")
		}
		return loader, nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() && !closing.Load() {
		var req agentRequest
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			return fmt.Errorf("bench: agent: bad request: %w", err)
		}
		handle := func() {
			rep := agentReply{ID: req.ID}
			fail := func(err error) { rep.Error = err.Error() }
			switch req.Op {
			case "open":
				if req.Config == nil {
					fail(errors.New("bench: agent: open without config"))
					break
				}
				l, err := NewPoolLoader(*req.Config)
				if err != nil {
					fail(err)
					break
				}
				mu.Lock()
				loader = l
				mu.Unlock()
			case "connect":
				if l, err := get(); err != nil {
					fail(err)
				} else if err := l.Connect(connectCtx(), req.URL, req.N, req.GroupSize, req.Offset); err != nil {
					fail(err)
				}
			case "cancel":
				cancelConnects()
			case "profile":
				if err := cpuProfile(ctx, req.Path, time.Duration(req.Seconds)*time.Second); err != nil {
					fail(err)
				}
			case "stats":
				if l, err := get(); err != nil {
					fail(err)
				} else {
					s, _ := l.Stats(req.Hist)
					s.CPUSeconds = SelfCPU() - cpu0
					rep.Stats = &s
				}
			case "reset":
				if l, err := get(); err != nil {
					fail(err)
				} else {
					_ = l.Reset()
				}
			case "close":
				closing.Store(true)
				end()
				if l, err := get(); err == nil {
					_ = l.Close()
				}
			default:
				fail(fmt.Errorf("bench: agent: unknown op %q", req.Op))
			}
			reply(rep)
		}
		if req.Op == "connect" || req.Op == "profile" {
			wg.Go(handle) // long; stats requests meanwhile show progress
		} else {
			handle()
		}
	}
	end()
	wg.Wait()
	if l, err := get(); err == nil {
		_ = l.Close()
	}
	return sc.Err()
}

// cpuProfile writes this process's CPU profile of d (or until ctx ends)
// to path.
func cpuProfile(ctx context.Context, path string, d time.Duration) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	pprof.StopCPUProfile()
	return f.Close()
}

// Profile makes the agent write its CPU profile of d to path; it returns
// when the profile is written.
func (a *Agent) Profile(path string, d time.Duration) error {
	_, err := a.call(agentRequest{Op: "profile", Path: path, Seconds: max(1, int(d.Seconds()))})
	return err
}

// Agent is a Loader in a child process running ServeAgent.
type Agent struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	wmu   sync.Mutex
	next  atomic.Int64

	mu      sync.Mutex
	pending map[int64]chan agentReply // guarded by mu
	err     error                     // set when the agent's output ends; guarded by mu
	done    chan struct{}
}

// StartAgent starts command (e.g. the bench binary with "agent") with env
// added, and opens a pool in it.
func StartAgent(command []string, env []string, lc LoaderConfig) (*Agent, error) {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := startGroup(cmd); err != nil {
		return nil, fmt.Errorf("bench: starting agent: %w", err)
	}
	a := &Agent{cmd: cmd, stdin: stdin, pending: map[int64]chan agentReply{}, done: make(chan struct{})}
	// Owner: the Agent. read returns when the agent's stdout ends (the
	// process exits); Close waits for done.
	go a.read(stdout)
	if _, err := a.call(agentRequest{Op: "open", Config: &lc}); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *Agent) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var rep agentReply
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			continue
		}
		a.mu.Lock()
		ch := a.pending[rep.ID]
		delete(a.pending, rep.ID)
		a.mu.Unlock()
		if ch != nil {
			ch <- rep
		}
	}
	err := a.cmd.Wait()
	removeChild(a.cmd.Process.Pid)
	a.mu.Lock()
	a.err = fmt.Errorf("bench: agent %d ended: %v", a.cmd.Process.Pid, err)
	for id, ch := range a.pending {
		ch <- agentReply{ID: id, Error: a.err.Error()}
		delete(a.pending, id)
	}
	a.mu.Unlock()
	close(a.done)
}

func (a *Agent) call(req agentRequest) (agentReply, error) {
	req.ID = a.next.Add(1)
	ch := make(chan agentReply, 1)
	a.mu.Lock()
	if a.err != nil {
		a.mu.Unlock()
		return agentReply{}, a.err
	}
	a.pending[req.ID] = ch
	a.mu.Unlock()
	b, _ := json.Marshal(req)
	a.wmu.Lock()
	_, err := a.stdin.Write(append(b, '\n'))
	a.wmu.Unlock()
	if err != nil {
		return agentReply{}, fmt.Errorf("bench: agent: %w", err)
	}
	rep := <-ch
	if rep.Error != "" {
		return rep, errors.New(rep.Error)
	}
	return rep, nil
}

// Connect implements Loader. When ctx ends first, the agent is asked to
// cancel its connects under way.
func (a *Agent) Connect(ctx context.Context, url string, n, groupSize, offset int) error {
	// The cancel runs on a goroutine of its own (context.AfterFunc); Connect
	// waits for it when it has started.
	cancelled := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(cancelled)
		_, _ = a.call(agentRequest{Op: "cancel"})
	})
	defer func() {
		if !stop() {
			<-cancelled
		}
	}()
	_, err := a.call(agentRequest{Op: "connect", URL: url, N: n, GroupSize: groupSize, Offset: offset})
	return err
}

// PID is the agent's process id.
func (a *Agent) PID() int { return a.cmd.Process.Pid }

// Stats implements Loader.
func (a *Agent) Stats(withHist bool) (Stats, error) {
	rep, err := a.call(agentRequest{Op: "stats", Hist: withHist})
	if err != nil || rep.Stats == nil {
		return Stats{}, err
	}
	return *rep.Stats, nil
}

// Reset implements Loader.
func (a *Agent) Reset() error {
	_, err := a.call(agentRequest{Op: "reset"})
	return err
}

// Close implements Loader: it asks the agent to close its pool and waits
// up to 10 s for it to exit before killing it.
func (a *Agent) Close() error {
	_, _ = a.call(agentRequest{Op: "close"})
	a.stdin.Close()
	select {
	case <-a.done:
	case <-timeAfter(10):
		_ = killGroup(a.cmd.Process.Pid)
		<-a.done
	}
	return nil
}

var _ Loader = (*Agent)(nil)
