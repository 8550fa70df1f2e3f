package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/actorhub/actorhub/internal/testutil"
)

// TestMain lets the test binary serve as an agent process.
func TestMain(m *testing.M) {
	if os.Getenv("BENCH_TEST_AGENT") == "1" {
		if err := ServeAgent(os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func agentCommand(t *testing.T) ([]string, []string) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe}, []string{"BENCH_TEST_AGENT=1"}
}

func TestScenariosSmall(t *testing.T) {
	srv := actorhub(t) // builds the target once
	srv.Stop()
	cmd, env := agentCommand(t)
	cases := []struct {
		name string
		s    Settings
	}{
		{"idle", Settings{Scenario: "idle", Conns: 200, GroupSize: 10, Duration: 300 * time.Millisecond, Settle: 200 * time.Millisecond}},
		{"connect", Settings{Scenario: "connect", Conns: 200, Settle: 10 * time.Millisecond}},
		{"broadcast json", Settings{Scenario: "broadcast", Conns: 200, Duration: time.Second}},
		{"broadcast messagepack 2KB", Settings{Scenario: "broadcast", Protocol: MessagePack, Payload: 2048, Conns: 200, Duration: time.Second, Window: 4}},
		{"group", Settings{Scenario: "group", Conns: 200, GroupSize: 20, Duration: time.Second}},
		{"echo", Settings{Scenario: "echo", Conns: 50, Duration: time.Second}},
		{"flood", Settings{Scenario: "flood", Conns: 10, Duration: time.Second, Settle: 100 * time.Millisecond}},
		// The control: the flood on a second server, the honest client alone on the first.
		{"flood apart", Settings{Scenario: "flood", FloodApart: true, Conns: 10, Duration: time.Second, Settle: 100 * time.Millisecond}},
		// Two agent processes hold the receivers.
		{"broadcast agents", Settings{Scenario: "broadcast", Conns: 200, Agents: 2, Duration: time.Second, AgentCommand: cmd, AgentEnv: env}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if testing.Short() && strings.Contains(c.name, "agents") {
				t.Skip("agent processes in -short")
			}
			res, err := Run(context.Background(), builtServer, c.s)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Valid || res.Lost != 0 || res.Dropped != 0 {
				t.Fatalf("invalid: %+v", res)
			}
			switch c.s.Scenario {
			case "broadcast", "group":
				if res.Delivered == 0 || res.DeliveriesPerSec <= 0 || res.LatP99Ms <= 0 || res.LatHist == nil {
					t.Fatalf("no deliveries: %+v", res)
				}
			case "echo":
				if res.EchoPerSec <= 0 || res.RTTP50Ms <= 0 {
					t.Fatalf("no echoes: %+v", res)
				}
			case "idle":
				// The RSS growth of a few hundred connections may be zero:
				// the runtime can hold them in pages it already has (more
				// so with the server's -gc-percent). What must be there is
				// the RSS read and the heap per connection after GC.
				if res.GoroutinesPerConn == nil || res.ServerRSSB <= 0 || res.HeapPerConnB <= 0 || res.ConnectsPerSec <= 0 {
					t.Fatalf("no memory figures: %+v", res)
				}
			case "connect":
				if res.ConnectsPerSec <= 0 {
					t.Fatalf("no connect rate: %+v", res)
				}
			case "flood":
				// The server took in every invocation the flooders wrote, its
				// memory was sampled throughout, and the honest client got
				// its answers before and during the flood.
				if res.FloodSent == 0 || res.ServerReceived < res.FloodSent || res.RSSIdleB == 0 || res.RSSPeakB < res.RSSIdleB/2 ||
					res.RSSAfterB == 0 || len(res.RSSSeries) < 4 || res.RSSPeakRatio <= 0 || res.EchoAlonePerSec <= 0 || res.EchoPerSec <= 0 {
					t.Fatalf("flood figures missing: %+v", res)
				}
				if res.FloodApart != c.s.FloodApart {
					t.Fatalf("flood_apart %v, want %v", res.FloodApart, c.s.FloodApart)
				}
			}
			if res.ServerCPUS <= 0 {
				t.Fatalf("no server CPU: %+v", res)
			}
		})
	}
}

// Two nodes on each backplane: the receivers are spread over both, the
// sender is on node 1, and every broadcast reaches every receiver.
func TestBroadcastTwoNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts backplane servers and two nodes")
	}
	srv := actorhub(t)
	srv.Stop()
	for _, bp := range Backplanes {
		for _, window := range []int{1, 8} {
			res, err := Run(context.Background(), builtServer, Settings{Scenario: "broadcast", Conns: 200, Nodes: 2, Backplane: bp, Window: window, Duration: time.Second})
			if err != nil {
				t.Fatalf("%s: %v", bp, err)
			}
			if !res.Valid || res.Lost != 0 || res.Dropped != 0 || res.Delivered == 0 {
				t.Fatalf("%s, window %d: %+v", bp, window, res)
			}
			if res.Nodes != 2 || res.Backplane != bp || len(res.NodeRSSB) != 2 || res.NodeRSSB[1] == 0 {
				t.Fatalf("%s, window %d: no per-node or backplane figures: %+v", bp, window, res)
			}
		}
	}
	childMu.Lock()
	left := len(children)
	childMu.Unlock()
	if left != 0 {
		t.Fatalf("%d process groups left running", left)
	}
}

// A small fleet: 3 nodes, 2 agents, growth in steps, then broadcasts
// that reach every connection.
func TestFleetSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server, three nodes and two agents")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("no redis-server")
	}
	srv := actorhub(t)
	srv.Stop()
	cmd, env := agentCommand(t)
	var steps, broadcasts []Result
	s := Settings{Scenario: "fleet", Conns: 300, Nodes: 3, Agents: 2, Step: 120, Broadcasts: 2, BroadcastAt: []int{120}, Settle: 100 * time.Millisecond,
		AgentCommand: cmd, AgentEnv: env, NodeEnv: []string{"GOMAXPROCS=1"},
		Emit: func(r Result) {
			if r.Phase == "step" {
				steps = append(steps, r)
			} else {
				broadcasts = append(broadcasts, r)
			}
		}}
	res, err := Run(context.Background(), builtServer, s)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid || res.Phase != "summary" || res.Conns != 300 || res.Lost != 0 || res.Delivered != 2*301 || res.Nodes != 3 || res.Agents != 2 {
		t.Fatalf("summary: %+v", res)
	}
	// RSS read (its growth over 300 connections may be zero, see idle above).
	if !strings.Contains(res.StoppedBy, "reached") || res.ServerRSSB <= 0 || res.LatMaxMs <= 0 {
		t.Fatalf("summary figures: %+v", res)
	}
	if len(steps) != 3 || steps[0].Conns != 120 || steps[2].Conns != 300 || len(broadcasts) != 3 {
		t.Fatalf("%d steps (%+v), %d broadcasts", len(steps), steps, len(broadcasts))
	}
	// The first broadcast is the one at 120 connections (BroadcastAt),
	// with the memory at that count.
	if b := broadcasts[0]; !b.Valid || b.Conns != 120 || b.Delivered != 121 || b.Lost != 0 || b.ServerRSSB <= 0 {
		t.Fatalf("broadcast at 120: %+v", b)
	}
	for _, b := range broadcasts[1:] {
		if !b.Valid || b.Delivered != 301 || b.Lost != 0 {
			t.Fatalf("broadcast: %+v", b)
		}
	}
	// Each is split by the nodes' timestamps: node 1 has it at the send,
	// every node writes its last connection after it had the message.
	for _, b := range broadcasts {
		if len(b.NodeRecvMs) != 3 || len(b.NodeDoneMs) != 3 || b.NodeRecvMs[0] != 0 || b.LastWriteMs <= 0 {
			t.Fatalf("split: %+v", b)
		}
		for i := range b.NodeRecvMs {
			if b.NodeDoneMs[i] < b.NodeRecvMs[i] || b.NodeDoneMs[i] > b.LastWriteMs {
				t.Fatalf("node %d: received at %v ms, last write at %v ms (all: %v ms)", i+1, b.NodeRecvMs[i], b.NodeDoneMs[i], b.LastWriteMs)
			}
		}
	}
}

func TestStepShares(t *testing.T) {
	for _, c := range []struct {
		step  int
		lefts []int
		want  []int
	}{
		{4, []int{0, 0, 0, 0, 2, 2}, []int{0, 0, 0, 0, 2, 2}},
		{10, []int{5, 5, 5}, []int{4, 3, 3}},
		{10, []int{1, 100, 2}, []int{1, 7, 2}},
		{10, []int{1, 2}, []int{1, 2}},
	} {
		got := stepShares(c.step, c.lefts)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("stepShares(%d, %v) = %v, want %v", c.step, c.lefts, got, c.want)
		}
	}
}

func TestSpread(t *testing.T) {
	parts := spread(shares(10, 3), shares(10, 2))
	want := []part{{0, 0, 4, 0}, {0, 1, 1, 4}, {1, 1, 2, 5}, {1, 2, 3, 7}}
	if len(parts) != len(want) {
		t.Fatalf("%v, want %v", parts, want)
	}
	for i := range want {
		if parts[i] != want[i] {
			t.Fatalf("%v, want %v", parts, want)
		}
	}
}

// A server that dies mid-run makes the result invalid, not a success.
func TestServerDeathInvalidates(t *testing.T) {
	srv := actorhub(t)
	srv.Stop()
	tgt := builtServer
	// The server's own -shutdown-timeout flag is irrelevant: kill it from
	// the outside once connections are up.
	var progress lockedBuffer
	s := Settings{Scenario: "idle", Conns: 50, Duration: 2 * time.Second, Settle: 100 * time.Millisecond, Progress: &progress}
	done := make(chan struct{})
	ran := make(chan struct{})
	go func() {
		defer close(done)
		// Killed once the progress line shows every connection up: the
		// run is holding them.
		if testutil.Poll(30*time.Second, func() bool {
			select {
			case <-ran:
				return true
			default:
			}
			return strings.Contains(progress.String(), "up 50/50")
		}) {
			KillChildren()
		}
	}()
	res, err := Run(context.Background(), tgt, s)
	close(ran)
	<-done
	if !strings.Contains(progress.String(), "up 50/50") {
		t.Fatalf("the run never had its 50 connections up: %q", progress.String())
	}
	t.Logf("err %v, result valid %v: %s", err, res.Valid, res.Reason)
	if err == nil && res.Valid {
		t.Fatalf("a run whose server was killed is valid: %+v", res)
	}
}

func TestPlanRefuses(t *testing.T) {
	soft, _ := FileLimit()
	limit := int(soft) - fdReserve
	for name, c := range map[string]struct {
		s    Settings
		want string
	}{
		"too many for one server":     {Settings{Scenario: "idle", Conns: int(soft) + 10}, "fleet"},
		"too many per agent":          {Settings{Scenario: "idle", Conns: limit - 10, Agents: 1, ConnsPerAgent: limit / 2, AgentCommand: []string{"x"}}, "-agents 2"},
		"per agent over the limit":    {Settings{Scenario: "idle", Conns: 10, ConnsPerAgent: int(soft)}, "-conns-per-agent"},
		"group size does not divide":  {Settings{Scenario: "group", Conns: 101, GroupSize: 10}, "multiple"},
		"unknown scenario":            {Settings{Scenario: "nope", Conns: 1}, "unknown scenario"},
		"fleet on too few nodes":      {Settings{Scenario: "fleet", Conns: 3 * limit, Nodes: 2}, "more -nodes"},
		"payload too small for stamp": {Settings{Scenario: "broadcast", Conns: 1, Payload: 5}, "21 bytes"},
		"echo on two nodes":           {Settings{Scenario: "echo", Conns: 10, Nodes: 2}, "-nodes 1"},
		"flood on two nodes":          {Settings{Scenario: "flood", Conns: 10, Nodes: 2}, "-nodes 1"},
		"flood over agents":           {Settings{Scenario: "flood", Conns: 10, Agents: 2, AgentCommand: []string{"x"}}, "in this process"},
	} {
		_, _, err := c.s.Plan()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", name, err, c.want)
		}
	}
	s := Settings{Scenario: "broadcast", Conns: limit - 10, ConnsPerAgent: limit / 3, AgentCommand: []string{"x"}}
	if agents, per, err := s.Plan(); err != nil || agents != 3 || per != limit/3 {
		t.Fatalf("automatic agents: %d × %d, %v", agents, per, err)
	}
}

// lockedBuffer is a bytes.Buffer for one writer and one reader goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A process is sampled with its descendants: a shell, its children, and
// a grandchild that leads a process group of its own.
func TestReadProcTree(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 5 & setsid sleep 5 & (sleep 5 & wait) & wait")
	if err := startGroup(cmd); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		removeChild(cmd.Process.Pid)
	}()
	// The shell starts its children as it goes: wait until the tree adds
	// up to at least twice the shell alone (four processes of about its
	// size), or fail below.
	var one, all ProcSample
	var err error
	testutil.Poll(testutil.Wait, func() bool {
		if one, err = ReadProc(cmd.Process.Pid); err == nil {
			all, err = ReadProcTree(cmd.Process.Pid)
		}
		return err != nil || all.RSSBytes >= 4*one.RSSBytes/2
	})
	if err != nil {
		t.Fatal(err)
	}
	if all.RSSBytes < 4*one.RSSBytes/2 {
		t.Fatalf("the tree's RSS %d is not the sum of its processes (the shell's is %d)", all.RSSBytes, one.RSSBytes)
	}
	if _, err := ReadProcTree(1 << 30); err == nil {
		t.Fatal("a process that does not exist was sampled")
	}
}
