// Command bench runs the load scenarios of package bench against one or
// more SignalR servers, each started as its own process and measured from
// outside. See package bench for the scenarios and the result fields.
//
//	go run ./cmd/bench -scenario broadcast -targets actorhub,raw -conns 19000 -payload 100 -protocol json -duration 10s -md
//
// "bench agent" (hidden) is a load process: the coordinator starts one per
// share of connections when they do not fit its own file limit.
//
// "bench plot -out DIR FILE..." draws the cost curves (memory per
// connection, broadcast latency against connections) from fleet results
// as SVG (plot.go).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/actorhub/actorhub/bench"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		if err := bench.ServeAgent(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench agent:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "plot" {
		os.Exit(runPlot(os.Args[2:], os.Stdout, os.Stderr))
	}
	// Children die with us: on SIGINT/SIGTERM kill every process group
	// started, then exit.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	// Owner: main. It lives as long as the process; on a signal it kills
	// the children and exits the process itself.
	go func() {
		s := <-sig
		bench.KillChildren()
		if d := tempDir.Load(); d != nil {
			os.RemoveAll(*d)
		}
		fmt.Fprintf(os.Stderr, "\nbench: %v: stopped every process started\n", s)
		os.Exit(130)
	}()
	code := run(os.Args[1:], os.Stdout, os.Stderr)
	bench.KillChildren()
	os.Exit(code)
}

// tempDir is the directory of built targets to remove, also on a signal.
var tempDir atomic.Pointer[string]

type options struct {
	settings   bench.Settings
	scenarios  []string
	targets    []string
	protocols  []bench.Protocol
	payloads   []int
	md         bool
	backplanes []string
	nodeProcs  int
	agentProcs int
	nodeEnv    []string
	agentEnv   []string
	cpuProfile string
	out        string
	quiet      bool
	root       string
	binDir     string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenario := fs.String("scenario", "broadcast", "comma-separated: "+strings.Join(bench.Scenarios, ", "))
	targets := fs.String("targets", "actorhub", "comma-separated: "+strings.Join(bench.TargetNames, ", "))
	protocol := fs.String("protocol", "json", "comma-separated: json, messagepack")
	payload := fs.String("payload", "100", "argument size in bytes, comma-separated (e.g. 100,2048)")
	fs.IntVar(&o.settings.Conns, "conns", 1000, "connections (receivers; echo: callers)")
	fs.DurationVar(&o.settings.Duration, "duration", 10*time.Second, "sending (idle: holding) time")
	fs.IntVar(&o.settings.GroupSize, "group-size", 100, "group: members per group; idle: connections per group")
	fs.IntVar(&o.settings.Window, "window", 0, "messages sent but not yet delivered to all (0: 1 for broadcast, the group count up to 1000 for group)")
	fs.DurationVar(&o.settings.Drain, "drain", 5*time.Second, "how long late deliveries are awaited before they count as lost")
	fs.DurationVar(&o.settings.Settle, "settle", 2*time.Second, "idle: pause before memory is sampled")
	fs.IntVar(&o.settings.Nodes, "nodes", 0, "actorhub server processes; 2 or more scale out on a -backplane server started for the run, receivers spread evenly, the sender on node 1 (0: 1; fleet: as many as -conns need)")
	backplanes := fs.String("backplane", "redis", "what 2 nodes or more scale out on, a server started for each run; comma-separated for one run on each: "+strings.Join(bench.Backplanes, ", "))
	fs.IntVar(&o.settings.Step, "step", 50000, "fleet: connections added per step")
	memFloor := fs.Float64("mem-floor", 2, "fleet, flood: GiB of MemAvailable never to go under (growth, or the flood, stops before)")
	fs.BoolVar(&o.settings.FloodApart, "flood-apart", false, "flood: the control run: the flooders flood a second server process, the honest client stays alone on the first (the machine as loaded; what the honest client loses is the machine's)")
	fs.DurationVar(&o.settings.Budget, "budget", 15*time.Minute, "fleet: time budget of the growth")
	fs.IntVar(&o.settings.Broadcasts, "broadcasts", 3, "fleet: SendToAll broadcasts timed once grown")
	broadcastAt := fs.String("broadcast-at", "", "fleet: comma-separated connection counts at which one SendToAll is timed while growing (e.g. 50000,100000,200000,500000)")
	fs.IntVar(&o.nodeProcs, "node-gomaxprocs", -1, "GOMAXPROCS of every node (0: Go's default; -1: the cores split between the nodes: 1 for fleet, cores/nodes for -nodes 2 or more, Go's default for one)")
	nodeEnv := fs.String("node-env", "", "more environment of every node, comma-separated KEY=VALUE (e.g. GOGC=50)")
	agentEnv := fs.String("agent-env", "", "more environment of every agent, comma-separated KEY=VALUE")
	fs.IntVar(&o.agentProcs, "agent-gomaxprocs", -1, "GOMAXPROCS of every agent (0: Go's default; -1: 1 for fleet, else Go's default)")
	fs.IntVar(&o.settings.Agents, "agents", 0, "load processes (0: this process if the connections fit its file limit, else as many as needed)")
	fs.IntVar(&o.settings.ConnsPerAgent, "conns-per-agent", 0, "connections per load process (0: its file limit less 300)")
	src := fs.String("src", "127.0.0.2-127.0.0.9", "source addresses: a range A-B or a comma-separated list")
	fs.IntVar(&o.settings.Loops, "loops", 0, "epoll loops per load process (0: GOMAXPROCS/2, at least 1)")
	fs.IntVar(&o.settings.Dialers, "dialers", 32, "connections set up at once per load process")
	fs.StringVar(&o.settings.ProfileDir, "profile", "", "directory for a server CPU profile of each broadcast/group run, and a heap profile of each idle run (targets with pprof)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write this process's CPU profile (the load side) to this file")
	fs.BoolVar(&o.md, "md", false, "print a markdown table of the results at the end")
	fs.StringVar(&o.out, "out", "", "also append the JSON results to this file")
	fs.BoolVar(&o.quiet, "q", false, "no progress line")
	fs.StringVar(&o.root, "root", "", "the actorhub module's directory (default: found upward from the working directory)")
	fs.StringVar(&o.binDir, "bin", "", "directory for the built targets (default: a temporary one)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.settings.MemFloor = int64(*memFloor * (1 << 30))
	for _, v := range splitList(*broadcastAt) {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-broadcast-at: %q is not a connection count", v)
		}
		o.settings.BroadcastAt = append(o.settings.BroadcastAt, n)
	}
	o.nodeEnv, o.agentEnv = splitList(*nodeEnv), splitList(*agentEnv)
	for _, kv := range append(append([]string{}, o.nodeEnv...), o.agentEnv...) {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("-node-env, -agent-env: %q is not KEY=VALUE", kv)
		}
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	o.backplanes = splitList(*backplanes)
	if len(o.backplanes) == 0 {
		return nil, errors.New("-backplane: none given")
	}
	if o.settings.Nodes <= 1 {
		o.backplanes = o.backplanes[:1] // one node has none
	}
	for _, b := range o.backplanes {
		if !contains(bench.Backplanes, b) {
			return nil, fmt.Errorf("-backplane: unknown backplane %q (known: %s)", b, strings.Join(bench.Backplanes, ", "))
		}
	}
	o.scenarios = splitList(*scenario)
	o.targets = splitList(*targets)
	for _, t := range o.targets {
		if !contains(bench.TargetNames, t) {
			return nil, fmt.Errorf("-targets: unknown target %q (known: %s)", t, strings.Join(bench.TargetNames, ", "))
		}
		if o.settings.Nodes > 1 && t != "actorhub" {
			return nil, fmt.Errorf("-nodes %d: only the actorhub target scales out (not %s)", o.settings.Nodes, t)
		}
	}
	for _, p := range splitList(*protocol) {
		pr, err := bench.ParseProtocol(p)
		if err != nil {
			return nil, fmt.Errorf("-protocol: %w", err)
		}
		o.protocols = append(o.protocols, pr)
	}
	for _, p := range splitList(*payload) {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n <= 0 {
			return nil, fmt.Errorf("-payload: %q is not a positive size", p)
		}
		o.payloads = append(o.payloads, n)
	}
	addrs, err := parseAddrs(*src)
	if err != nil {
		return nil, fmt.Errorf("-src: %w", err)
	}
	o.settings.SourceAddrs = addrs
	// Check every combination before starting anything.
	for _, sc := range o.scenarios {
		s := o.settings
		s.Scenario = sc
		s.Payload = o.payloads[0]
		s.AgentCommand = []string{"agent"} // any: only Plan's checks run here
		if _, _, err := s.Plan(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseAddrs reads "127.0.0.2-127.0.0.9" or "127.0.0.2,127.0.0.3".
func parseAddrs(s string) ([]string, error) {
	if a, b, ok := strings.Cut(s, "-"); ok {
		var a4, b4 [4]int
		if _, err := fmt.Sscanf(a, "%d.%d.%d.%d", &a4[0], &a4[1], &a4[2], &a4[3]); err != nil {
			return nil, fmt.Errorf("%q: %w", a, err)
		}
		if _, err := fmt.Sscanf(b, "%d.%d.%d.%d", &b4[0], &b4[1], &b4[2], &b4[3]); err != nil {
			return nil, fmt.Errorf("%q: %w", b, err)
		}
		if a4[0] != b4[0] || a4[1] != b4[1] || a4[2] != b4[2] || b4[3] < a4[3] || b4[3] > 255 {
			return nil, fmt.Errorf("%q: a range may only vary the last byte", s)
		}
		var out []string
		for i := a4[3]; i <= b4[3]; i++ {
			out = append(out, fmt.Sprintf("%d.%d.%d.%d", a4[0], a4[1], a4[2], i))
		}
		return out, nil
	}
	return splitList(s), nil
}

// gomaxprocsEnv is the GOMAXPROCS setting of child processes: n > 0
// sets it, 0 leaves Go's default, and -1 splits this machine's cores
// between the nodes that share it: 1 for the fleet (dozens of processes on
// few cores), the cores divided by the nodes (at least 1) for two nodes or
// more, and Go's default for one. Two nodes that each take every core
// measure the cores' oversubscription as much as the scale-out (see
// BENCHMARKS.md, the Redis hop); split, they run as two machines' worth
// of containers with CPU limits would (Go takes GOMAXPROCS from the limit).
func gomaxprocsEnv(n int, scenario string, nodes int) []string {
	if n < 0 {
		switch {
		case scenario == "fleet":
			n = 1
		case nodes > 1:
			n = max(1, runtime.NumCPU()/nodes)
		}
	}
	if n <= 0 {
		return nil
	}
	return []string{fmt.Sprintf("GOMAXPROCS=%d", n)}
}

// moduleRoot finds the directory of the actorhub go.mod upward from dir.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/actorhub/actorhub\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("no actorhub go.mod found upward from the working directory: run from the repository or pass -root")
		}
	}
}

func machine() string {
	host, _ := os.Hostname()
	soft, _ := bench.FileLimit()
	return fmt.Sprintf("%s %s/%s %d cpu, nofile %d", host, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), soft)
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	root := o.root
	if root == "" {
		wd, _ := os.Getwd()
		if root, err = moduleRoot(wd); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 2
		}
	}
	binDir := o.binDir
	if binDir == "" {
		if binDir, err = os.MkdirTemp("", "actorhub-bench-"); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		tempDir.Store(&binDir)
		defer os.RemoveAll(binDir)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	var out io.Writer = stdout
	if o.out != "" {
		f, err := os.OpenFile(o.out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		defer f.Close()
		out = io.MultiWriter(stdout, f)
	}
	enc := json.NewEncoder(out)
	command := "bench " + strings.Join(args, " ")
	var results []bench.Result
	code := 0
	for _, name := range o.targets {
		fmt.Fprintf(stderr, "bench: building %s\n", name)
		t, err := bench.BuildTarget(context.Background(), name, root, binDir)
		if err != nil {
			// Say so, in the results too, and go on with the other targets.
			fmt.Fprintf(stderr, "%v (skipped)\n", err)
			code = 1
			for _, sc := range o.scenarios {
				for _, pr := range o.protocols {
					for _, pl := range o.payloads {
						res := bench.Result{Scenario: sc, Target: name, Protocol: pr.String(), Payload: pl, Conns: o.settings.Conns,
							Reason: err.Error(), Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Command: command}
						_ = enc.Encode(res)
						results = append(results, res)
					}
				}
			}
			continue
		}
		for _, sc := range o.scenarios {
			for _, pr := range o.protocols {
				for _, pl := range o.payloads {
					for _, bp := range o.backplanes {
						s := o.settings
						s.Scenario, s.Protocol, s.Payload, s.Backplane = sc, pr, pl, bp
						s.AgentCommand = []string{exe, "agent"}
						s.NodeEnv = append(gomaxprocsEnv(o.nodeProcs, sc, s.Nodes), o.nodeEnv...)
						s.AgentEnv = append(gomaxprocsEnv(o.agentProcs, sc, 1), o.agentEnv...)
						s.Emit = func(r bench.Result) {
							r.Machine, r.Command = machine(), command
							_ = enc.Encode(r)
						}
						if !o.quiet {
							s.Progress = stderr
						}
						res, err := bench.Run(context.Background(), t, s)
						if err != nil {
							fmt.Fprintf(stderr, "bench: %s %s %s %dB: %v\n", name, sc, pr, pl, err)
							res.Valid = false
							if res.Reason == "" {
								res.Reason = err.Error()
							}
							code = 1
						}
						res.Machine, res.Command = machine(), command
						if res.Date == "" {
							res.Date = time.Now().UTC().Format(time.RFC3339)
						}
						_ = enc.Encode(res)
						results = append(results, res)
					}
				}
			}
		}
	}
	if o.md {
		fmt.Fprintln(stdout)
		bench.WriteMarkdown(stdout, results)
	}
	return code
}
