package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Scenarios are the scenario names Run knows.
var Scenarios = []string{"idle", "connect", "broadcast", "group", "echo", "fleet", "rest", "flood"}

// Settings describe one scenario run. Zero fields take the defaults given.
type Settings struct {
	Scenario string // one of Scenarios
	Protocol Protocol
	Conns    int           // connections held (receivers, or echo callers)
	Payload  int           // argument size in bytes; default 100
	Duration time.Duration // sending (or holding) time; default 10 s
	// GroupSize is S: group has N/S groups of S; idle puts connection i
	// in group i/S. Default 100.
	GroupSize int
	// Window is how many messages may be sent and not yet delivered to
	// every receiver; default 1 for broadcast, the group count (at most
	// 1,000) for group.
	Window int
	// Drain is how long, after sending stops, deliveries may still come
	// before the missing ones count as lost; default 5 s.
	Drain time.Duration
	// Settle is the pause before idle memory is sampled; default 2 s.
	Settle time.Duration
	// Nodes is K, the server processes; with two or more they scale out
	// on a backplane server that Run starts, and the receivers are spread
	// evenly over them. Default 1 (no backplane); fleet: as many as Conns
	// need.
	Nodes int
	// Backplane is what two nodes or more scale out on: redis,
	// redis-cluster, postgres or nats (Backplanes). Default redis.
	Backplane string
	// NodeEnv is added to every node's environment.
	NodeEnv []string
	// Agents is how many load processes hold the connections; 0: this
	// process if they fit, else as many as needed.
	Agents int
	// ConnsPerAgent bounds the connections of one load process; default
	// its file limit less 300.
	ConnsPerAgent int
	// AgentCommand starts an agent (ServeAgent on stdin/stdout), with
	// AgentEnv added to its environment.
	AgentCommand []string
	AgentEnv     []string
	// SourceAddrs, Loops and Dialers go to every pool (Config).
	SourceAddrs []string
	Loops       int
	Dialers     int
	// PingInterval is how often every client connection pings the
	// server (Config.PingInterval); default 15 s for every scenario but
	// fleet, where it is never (-1).
	PingInterval time.Duration
	// Progress receives a live progress line (\r-updated); nil: none.
	// Fleet writes a line per step instead.
	Progress io.Writer

	// Fleet only.
	//
	// Step is how many connections a fleet step adds; default 50,000.
	Step int
	// MemFloor is the MemAvailable (bytes) the fleet never goes under: it
	// stops growing before; default 2 GiB.
	MemFloor int64
	// Budget bounds the fleet's growth; default 15 min.
	Budget time.Duration
	// Broadcasts is how many SendToAll the fleet times; default 3.
	Broadcasts int
	// BroadcastAt are connection counts at which the fleet, while it
	// grows, times one SendToAll too (the first step that reaches each),
	// for the cost curve of one run.
	BroadcastAt []int
	// Emit receives each fleet step and broadcast as it ends (Run
	// returns the summary).
	Emit func(Result)
	// ProfileDir, when set, gets a CPU profile of the server (of each
	// node, with -nodes) during the sending phase, and for idle a heap profile of the server holding
	// the connections, after a GC (targets serving pprof only).
	ProfileDir string

	// Flood only.
	//
	// FloodApart is the flood's control: the flooders flood a second
	// server process of the same target and settings, the honest client
	// stays on the first, alone there. The machine is as loaded as in the
	// flood proper; what the honest client loses then is the machine's
	// doing, not its server's. Memory figures are the flooded server's.
	FloodApart bool
}

// fdReserve is what a process keeps of its file limit for other files.
const fdReserve = 300

// Plan checks settings before anything starts, fills defaults and says
// how many agents hold how many connections each (agents == 0: this
// process). Impossible settings get an error that names the fix.
func (s *Settings) Plan() (agents, perAgent int, err error) {
	known := false
	for _, n := range Scenarios {
		known = known || n == s.Scenario
	}
	if !known {
		return 0, 0, fmt.Errorf("bench: unknown scenario %q (known: %s)", s.Scenario, strings.Join(Scenarios, ", "))
	}
	if s.Conns <= 0 {
		return 0, 0, errors.New("bench: -conns must be at least 1")
	}
	if s.Nodes < 0 {
		return 0, 0, errors.New("bench: -nodes must be 1 or more")
	}
	if s.Backplane == "" {
		s.Backplane = "redis"
	}
	if !slices.Contains(Backplanes, s.Backplane) {
		return 0, 0, fmt.Errorf("bench: unknown backplane %q (known: %s)", s.Backplane, strings.Join(Backplanes, ", "))
	}
	soft, _ := FileLimit()
	limit := int(soft) - fdReserve
	if s.Nodes == 0 {
		s.Nodes = 1
		if s.Scenario == "fleet" {
			s.Nodes = (s.Conns + limit - 3) / (limit - 2)
		}
	}
	if s.Scenario == "fleet" {
		if s.Step <= 0 {
			s.Step = defaultFleetStep
		}
		if s.MemFloor <= 0 {
			s.MemFloor = defaultMemFloor
		}
		if s.Budget <= 0 {
			s.Budget = defaultFleetBudget
		}
		if s.Broadcasts <= 0 {
			s.Broadcasts = defaultBroadcasts
		}
		if s.PingInterval == 0 {
			s.PingInterval = -1
		}
	}
	if (s.Scenario == "echo" || s.Scenario == "flood") && s.Nodes > 1 {
		return 0, 0, fmt.Errorf("bench: %s runs against one node: use -nodes 1", s.Scenario)
	}
	if s.Scenario == "flood" {
		if s.MemFloor <= 0 {
			s.MemFloor = defaultMemFloor
		}
		if s.PingInterval == 0 {
			s.PingInterval = -1 // the drain ends when the server's received count stands still
		}
	}
	if s.Payload <= 0 {
		s.Payload = 100
	}
	if s.Payload < 21 {
		return 0, 0, errors.New("bench: -payload must be at least 21 bytes (it carries a nanosecond timestamp)")
	}
	if s.Duration <= 0 {
		s.Duration = 10 * time.Second
	}
	if s.GroupSize <= 0 {
		s.GroupSize = 100
	}
	if s.Drain <= 0 {
		s.Drain = 5 * time.Second
	}
	if s.Settle <= 0 {
		s.Settle = 2 * time.Second
	}
	if s.Scenario == "group" && s.Conns%s.GroupSize != 0 {
		return 0, 0, fmt.Errorf("bench: group: -conns %d is not a multiple of -group-size %d", s.Conns, s.GroupSize)
	}
	if s.Window <= 0 {
		s.Window = 1
		if s.Scenario == "group" {
			s.Window = min(s.Conns/s.GroupSize, 1000)
		}
	}
	if perNode := (s.Conns + s.Nodes - 1) / s.Nodes; perNode+2 > limit {
		return 0, 0, fmt.Errorf("bench: a server would hold %d connections, but one process may open %d files (RLIMIT_NOFILE %d less %d for other files): use fewer -conns, or more -nodes (the fleet scenario)", perNode+1, limit, soft, fdReserve)
	}
	perAgent = s.ConnsPerAgent
	if perAgent <= 0 {
		perAgent = limit
	}
	if perAgent > limit {
		return 0, 0, fmt.Errorf("bench: -conns-per-agent %d is more than one process may open (%d: RLIMIT_NOFILE %d less %d): lower -conns-per-agent, or raise the limit (ulimit -n)", perAgent, limit, soft, fdReserve)
	}
	agents = s.Agents
	if agents < 0 {
		return 0, 0, errors.New("bench: -agents must be 0 (automatic) or more")
	}
	if agents == 0 && (s.Conns > perAgent || s.ConnsPerAgent > 0 || s.Scenario == "fleet") {
		agents = (s.Conns + perAgent - 1) / perAgent
	}
	if agents > 0 && (s.Conns+agents-1)/agents > perAgent {
		return 0, 0, fmt.Errorf("bench: %d connections over %d agents is %d per agent, more than the %d one process may hold: use -agents %d or more (or -conns-per-agent to split finer)", s.Conns, agents, (s.Conns+agents-1)/agents, perAgent, (s.Conns+perAgent-1)/perAgent)
	}
	if (s.Scenario == "echo" || s.Scenario == "flood") && agents > 0 {
		return 0, 0, fmt.Errorf("bench: %s runs its %d clients in this process, which may hold %d: use fewer -conns", s.Scenario, s.Conns, limit)
	}
	if agents > 0 && len(s.AgentCommand) == 0 {
		return 0, 0, errors.New("bench: agents are needed but Settings.AgentCommand is empty")
	}
	return agents, perAgent, nil
}

// run is the state of one scenario run.
type run struct {
	s   *Settings
	cl  *Cluster
	srv *Server // node 1: the sender's
	res *Result
	// loaders and sender are written by Run's goroutine as it sets them
	// up, under mu, and read under mu by the progress goroutine (stats).
	mu      sync.Mutex
	loaders []Loader
	parts   []part // which loader holds how many connections to which node
	sender  *Pool
	rest    *restSender  // the rest scenario's
	phase   atomic.Value // string, for the progress line
	sent    atomic.Int64

	// CPU seconds at the start of the measured phase: the servers', Redis',
	// this process's and the loaders' (agents report their own).
	cpuServer, cpuBackplane, cpuSelf, cpuLoaders float64
	cpuMarked                                    bool
	nodesAtMark                                  []ProcSample // each node's, at markCPU
}

// part is n connections of one loader to one node, the first of them
// connection number offset of the run.
type part struct {
	loader, node, n, offset int
}

// envProcs is the GOMAXPROCS an environment list sets (the last setting
// wins, as in exec), or 0.
func envProcs(env []string) int {
	n := 0
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GOMAXPROCS="); ok {
			n, _ = strconv.Atoi(v)
		}
	}
	return n
}

// spread splits nodes' and loaders' shares of the connections (both
// adding up to the same total) into parts: loader i takes its share from
// the nodes in order, so each loader talks to few nodes.
func spread(nodeShares, loaderShares []int) []part {
	var parts []part
	node, nodeLeft, offset := 0, 0, 0
	if len(nodeShares) > 0 {
		nodeLeft = nodeShares[0]
	}
	for li, want := range loaderShares {
		for want > 0 && node < len(nodeShares) {
			if nodeLeft == 0 {
				node++
				if node < len(nodeShares) {
					nodeLeft = nodeShares[node]
				}
				continue
			}
			n := min(want, nodeLeft)
			parts = append(parts, part{loader: li, node: node, n: n, offset: offset})
			want, nodeLeft, offset = want-n, nodeLeft-n, offset+n
		}
	}
	return parts
}

// shares splits total into k shares that differ by one at most.
func shares(total, k int) []int {
	out := make([]int, k)
	for i := range k {
		out[i] = total / k
		if i < total%k {
			out[i]++
		}
	}
	return out
}

// serverCPU is the CPU seconds of the nodes and of the backplane.
func (r *run) serverCPU() (nodes, backplane float64) {
	ps, _, _ := r.cl.Sample()
	if r.cl.Backplane != nil {
		if bs, err := r.cl.Backplane.Sample(); err == nil {
			backplane = bs.CPUSeconds
		}
	}
	return ps.CPUSeconds, backplane
}

// loaderCPU is the CPU seconds the agents report.
func (r *run) loaderCPU() float64 {
	var c float64
	for _, l := range r.loaders {
		if st, err := l.Stats(false); err == nil {
			c += st.CPUSeconds
		}
	}
	return c
}

// maxNodeFigures: a run of more nodes (the fleet) leaves out the figures
// of each node.
const maxNodeFigures = 16

// markCPU starts the measured phase: CPU figures count from here.
func (r *run) markCPU() {
	r.cpuServer, r.cpuBackplane = r.serverCPU()
	r.cpuSelf, r.cpuLoaders, r.cpuMarked = SelfCPU(), r.loaderCPU(), true
	_, r.nodesAtMark, _ = r.cl.Sample()
}

// endCPU ends the measured phase and records its CPU use.
func (r *run) endCPU() {
	if !r.cpuMarked {
		return
	}
	nodes, backplane := r.serverCPU()
	r.res.ServerCPUS = round3(nodes - r.cpuServer)
	if r.cl.Backplane != nil {
		r.res.BackplaneCPUS = round3(backplane - r.cpuBackplane)
	}
	r.res.ClientCPUS = round3(SelfCPU() - r.cpuSelf + r.loaderCPU() - r.cpuLoaders)
	r.cpuMarked = false
	if _, per, err := r.cl.Sample(); err == nil && len(per) == len(r.nodesAtMark) && len(per) <= maxNodeFigures {
		r.res.NodeCPUS, r.res.NodeWrites = nil, nil
		for i, ps := range per {
			r.res.NodeCPUS = append(r.res.NodeCPUS, round3(ps.CPUSeconds-r.nodesAtMark[i].CPUSeconds))
			r.res.NodeWrites = append(r.res.NodeWrites, ps.WriteCalls-r.nodesAtMark[i].WriteCalls)
		}
	}
}

// Run starts the target, runs the scenario against it, stops it and
// returns the result. A returned error means no result could be had (the
// target did not start, connections failed); a run that finished but
// lost messages, dropped connections or saw the server die is returned as
// a Result with Valid false.
func Run(ctx context.Context, t Target, s Settings) (Result, error) {
	agents, perAgent, err := s.Plan()
	if err != nil {
		return Result{}, err
	}
	res := Result{
		Scenario: s.Scenario, Target: t.Name, Protocol: s.Protocol.String(), Payload: s.Payload,
		Conns: s.Conns, Agents: agents, DurationS: s.Duration.Seconds(), Valid: true,
		Date: time.Now().UTC().Format(time.RFC3339),
	}
	if s.Scenario == "group" || s.Scenario == "idle" {
		res.GroupSize = s.GroupSize
		res.Groups = (s.Conns + s.GroupSize - 1) / s.GroupSize
	}
	if s.Scenario == "broadcast" || s.Scenario == "group" || s.Scenario == "rest" {
		res.Window = s.Window
	}
	if s.Scenario == "echo" || s.Scenario == "flood" {
		res.Window = 1
	}
	if t.NoMessagePack && s.Protocol == MessagePack {
		res.Unsupported, res.Valid, res.Reason = true, false, "the target does not speak MessagePack"
		return res, nil
	}
	if s.Nodes > 1 {
		res.Nodes, res.Backplane = s.Nodes, s.Backplane
	}
	res.NodeProcs = envProcs(s.NodeEnv)
	var rest *restSender
	if s.Scenario == "rest" {
		if t.Name != "actorhub" {
			res.Unsupported, res.Valid, res.Reason = true, false, "the target has no REST API"
			return res, nil
		}
		rest = newRESTSender()
		s.NodeEnv = append(s.NodeEnv, rest.env())
	}
	cl, err := StartCluster(t, ClusterConfig{Nodes: s.Nodes, Env: s.NodeEnv, Backplane: s.Backplane})
	if err != nil {
		return res, err
	}
	defer cl.Stop()
	srv := cl.Nodes[0]
	r := &run{s: &s, cl: cl, srv: srv, res: &res, rest: rest}
	r.phase.Store("starting")
	defer r.closeLoaders()
	stopProgress := func() {}
	if s.Scenario != "fleet" {
		stopProgress = r.progress()
	}
	defer stopProgress()

	lc := LoaderConfig{URL: srv.URL(), Protocol: s.Protocol.String(), SourceAddrs: s.SourceAddrs, Loops: s.Loops, Dialers: s.Dialers}
	if s.PingInterval != 0 {
		lc.PingInterval = s.PingInterval.String()
	}
	loaderShares := []int{s.Conns}
	if agents == 0 {
		l, err := NewPoolLoader(lc)
		if err != nil {
			return res, err
		}
		r.setLoaders([]Loader{l})
	} else {
		loaderShares = shares(s.Conns, agents)
		for range agents {
			a, err := StartAgent(s.AgentCommand, s.AgentEnv, lc)
			if err != nil {
				return res, err
			}
			r.setLoaders(append(r.loaders, a))
		}
	}
	_ = perAgent // Plan checked that every share fits
	r.parts = spread(shares(s.Conns, s.Nodes), loaderShares)
	switch s.Scenario {
	case "idle":
		err = r.idle()
	case "connect":
		err = r.connect()
	case "broadcast", "group", "rest":
		err = r.fanout()
	case "echo":
		err = r.echo()
	case "fleet":
		err = r.fleet()
	case "flood":
		err = r.flood()
	}
	r.endCPU()
	if ps, per, err := cl.Sample(); err == nil {
		res.ServerRSSB = ps.RSSBytes
		if len(per) > 1 {
			for _, p := range per {
				res.NodeRSSB = append(res.NodeRSSB, p.RSSBytes)
			}
		}
	}
	if err != nil && (isUnsupported(err) || s.Protocol == MessagePack && strings.Contains(err.Error(), "handshake")) {
		res.Unsupported, res.Valid, res.Reason = true, false, err.Error()
		return res, nil
	}
	if died := cl.Died(); died != nil {
		res.invalidate("the server died: %v", died)
		if err != nil {
			res.invalidate("%v", err)
			return res, nil
		}
	}
	return res, err
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// isUnsupported tells a handshake refused for the protocol. (Run also
// takes any failed MessagePack handshake as the protocol unsupported.)
func isUnsupported(err error) bool {
	m := err.Error()
	return strings.Contains(m, "refused the handshake") && strings.Contains(strings.ToLower(m), "protocol")
}

func (r *run) closeLoaders() {
	var wg sync.WaitGroup
	for _, l := range r.loaders {
		wg.Go(func() { _ = l.Close() })
	}
	wg.Wait()
	if r.sender != nil {
		r.sender.Close()
	}
}

// setLoaders replaces the loaders (see mu).
func (r *run) setLoaders(ls []Loader) {
	r.mu.Lock()
	r.loaders = ls
	r.mu.Unlock()
}

// stats adds up every loader's (and the sender's) stats.
func (r *run) stats(withHist bool) (Stats, error) {
	r.mu.Lock()
	loaders, sender := r.loaders, r.sender
	r.mu.Unlock()
	var total Stats
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for _, l := range loaders {
		wg.Go(func() {
			st, err := l.Stats(withHist)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			st.CPUSeconds = 0
			total.Add(st)
		})
	}
	wg.Wait()
	if sender != nil {
		total.Add(sender.Stats(withHist))
	}
	return total, firstErr
}

func (r *run) reset() error {
	for _, l := range r.loaders {
		if err := l.Reset(); err != nil {
			return err
		}
	}
	if r.sender != nil {
		r.sender.ResetCounters()
	}
	return nil
}

// connectAll opens every loader's connections at once and returns the
// connects per second.
func (r *run) connectAll(groupSize int) (float64, error) {
	r.phase.Store("connecting")
	if r.s.Scenario == "connect" || r.s.Scenario == "idle" {
		r.markCPU()
		defer r.endCPU()
	}
	start := time.Now()
	errs := make([]error, len(r.parts))
	urls := r.cl.URLs()
	var wg sync.WaitGroup
	for i, p := range r.parts {
		wg.Go(func() {
			errs[i] = r.loaders[p.loader].Connect(context.Background(), urls[p.node], p.n, groupSize, p.offset)
		})
	}
	wg.Wait()
	el := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return float64(r.s.Conns) / el.Seconds(), nil
}

// openSender opens the one connection that invokes the sends.
func (r *run) openSender(onCompletion func(*Conn, bool)) error {
	cfg, err := LoaderConfig{URL: r.srv.URL(), Protocol: r.s.Protocol.String(), SourceAddrs: r.s.SourceAddrs, Loops: 1}.poolConfig()
	if err != nil {
		return err
	}
	if r.s.PingInterval != 0 {
		cfg.PingInterval = r.s.PingInterval
	}
	cfg.OnCompletion = onCompletion
	p, err := NewPool(cfg)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.sender = p
	r.mu.Unlock()
	return p.Connect(context.Background(), 1, nil)
}

// progress prints a \r-updated line every second until stopped.
func (r *run) progress() (stop func()) {
	w := r.s.Progress
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last uint64
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
			}
			st, _ := r.stats(false)
			total := st.Delivered + st.Completions
			fmt.Fprintf(w, "\r\033[K%s %s %s %dB %s: up %d/%d, sent %d, received %d (%d/s), dropped %d, %.0fs",
				r.s.Scenario, r.res.Target, r.s.Protocol, r.s.Payload, r.phase.Load(), st.Up, r.s.Conns,
				r.sent.Load(), total, total-min(last, total), st.Dropped, time.Since(start).Seconds())
			last = total
		}
	})
	return func() { close(done); wg.Wait() }
}

// memory is what the server holds, sampled after a GC where it can.
type memory struct {
	rss, heap, heapInuse, kernel int64
	goroutines                   float64
	haveHeap, haveGo             bool
}

// sampleMemory adds up what every node holds.
func (r *run) sampleMemory() memory { return r.sampleMemoryOf(r.cl.Nodes) }

// sampleMemoryOf adds up what the nodes hold.
func (r *run) sampleMemoryOf(nodes []*Server) memory {
	var m memory
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			// Twice: what sync.Pools keep survives one collection (victim cache).
			n.GC()
			n.GC()
			ps, perr := n.Sample()
			mt, merr := n.Metrics()
			mu.Lock()
			defer mu.Unlock()
			if perr == nil {
				m.rss += ps.RSSBytes
			}
			if merr == nil {
				m.heap += int64(mt["go_memstats_heap_alloc_bytes"])
				m.haveHeap = m.haveHeap || mt["go_memstats_heap_alloc_bytes"] > 0
				m.heapInuse += int64(mt["go_memstats_heap_inuse_bytes"])
				g, ok := mt["go_goroutines"]
				m.goroutines += g
				m.haveGo = m.haveGo || ok
			}
		})
	}
	wg.Wait()
	m.kernel, _ = KernelSocketBytes()
	return m
}

func (r *run) idle() error {
	time.Sleep(r.s.Settle / 2)
	before := r.baseline()
	cps, err := r.connectAll(r.s.GroupSize)
	if err != nil {
		return err
	}
	r.res.ConnectsPerSec = round3(cps)
	r.phase.Store("settling")
	time.Sleep(r.s.Settle)
	after := r.sampleMemory()
	n := float64(r.s.Conns)
	r.res.RSSPerConnB = float64(int64(float64(after.rss-before.rss) / n))
	if after.haveHeap {
		r.res.HeapPerConnB = float64(int64(float64(after.heap-before.heap) / n))
		r.res.HeapInusePerConnB = float64(int64(float64(after.heapInuse-before.heapInuse) / n))
	}
	if after.kernel > 0 {
		r.res.KernelPerConnB = float64(int64(float64(after.kernel-before.kernel) / n))
	}
	if after.haveGo {
		g := round3((after.goroutines - before.goroutines) / n)
		r.res.GoroutinesPerConn = &g
		r.res.ServerGoroutines = int(after.goroutines)
	}
	if r.s.ProfileDir != "" && len(r.cl.Nodes) > 0 {
		path := fmt.Sprintf("%s/%s-idle-%s-%d.heap.pprof", r.s.ProfileDir, r.res.Target, r.s.Protocol, r.s.Conns)
		if err := r.cl.Nodes[0].HeapProfile(path); err != nil {
			fmt.Fprintf(errWriter(r.s.Progress), "\nheap profile: %v\n", err)
		}
	}
	r.phase.Store("holding")
	time.Sleep(r.s.Duration)
	return r.checkHeld()
}

// baseline samples memory until the live heap stops falling, at most 5
// times: a server just started (on a busy machine, or built with -race)
// may still hold start-up allocations, which would count against the
// connections and give a negative heap per connection.
func (r *run) baseline() memory {
	m := r.sampleMemory()
	for range 4 {
		time.Sleep(r.s.Settle / 4)
		n := r.sampleMemory()
		if !n.haveHeap || n.heap >= m.heap {
			return m
		}
		m = n
	}
	return m
}

// checkHeld marks the run invalid if connections were dropped.
func (r *run) checkHeld() error {
	st, err := r.stats(false)
	if err != nil {
		return err
	}
	r.res.Dropped = st.Dropped
	if st.Dropped > 0 {
		r.res.invalidate("%d connections dropped (%s)", st.Dropped, st.Error)
	}
	return nil
}

func (r *run) connect() error {
	time.Sleep(r.s.Settle / 2)
	cps, err := r.connectAll(0)
	if err != nil {
		return err
	}
	r.res.ConnectsPerSec = round3(cps)
	r.res.DurationS = round3(float64(r.s.Conns) / cps)
	return r.checkHeld()
}

// fanout is broadcast and group: one sender, every message to many.
func (r *run) fanout() error {
	groupSize := 0
	if r.s.Scenario == "group" {
		groupSize = r.s.GroupSize
	}
	if _, err := r.connectAll(groupSize); err != nil {
		return err
	}
	var sender *Conn
	fanout := uint64(r.s.Conns + 1) // SendToAll reaches the sender too
	if r.rest != nil {
		fanout = uint64(r.s.Conns) // no sender connection
		if err := r.rest.start(r.srv.Addr, int(r.s.Window)); err != nil {
			return err
		}
		defer r.rest.stop()
	} else {
		if err := r.openSender(nil); err != nil {
			return err
		}
		sender = r.sender.Conns()[0]
	}
	if err := r.reset(); err != nil {
		return err
	}
	groups := 0
	if groupSize > 0 {
		fanout, groups = uint64(groupSize), r.s.Conns/groupSize
	}
	window := int64(r.s.Window)
	var profErr chan error
	if r.s.ProfileDir != "" {
		profErr = make(chan error, 1)
		// Owner: this function. The profile lasts the sending time; it is
		// received below, or on an early return by the deferred receive.
		go func() {
			path := fmt.Sprintf("%s/%s-%s-%s-%d", r.s.ProfileDir, r.res.Target, r.s.Scenario, r.s.Protocol, r.s.Payload)
			if len(r.cl.Nodes) == 1 {
				profErr <- r.srv.Profile(path+".pprof", r.s.Duration)
				return
			}
			// One profile per node, taken at once: node-1 is the sender's.
			var wg sync.WaitGroup
			errs := make([]error, len(r.cl.Nodes))
			for i, n := range r.cl.Nodes {
				wg.Go(func() {
					errs[i] = n.Profile(fmt.Sprintf("%s-%s-node%d.pprof", path, r.s.Backplane, i+1), r.s.Duration)
				})
			}
			wg.Wait()
			profErr <- errors.Join(errs...)
		}()
		defer func() {
			if profErr != nil {
				<-profErr
			}
		}()
	}
	// Agents are asked over a pipe: poll them less often.
	poll := 200 * time.Microsecond
	if r.res.Agents > 0 {
		poll = time.Millisecond
	}
	r.phase.Store("sending")
	r.markCPU()
	start := time.Now()
	end := start.Add(r.s.Duration)
	var delivered uint64
	lastProgress, lastCount := start, uint64(0)
	for time.Now().Before(end) {
		st, err := r.stats(false)
		if err != nil {
			return err
		}
		delivered = st.Delivered
		if delivered != lastCount {
			lastProgress, lastCount = time.Now(), delivered
		} else if time.Since(lastProgress) > 10*time.Second {
			r.res.invalidate("no delivery for 10 s")
			break
		}
		if st.Dropped > 0 {
			break // dropped connections: stop sending, the drain below counts the loss
		}
		sent := r.sent.Load()
		if sent-int64(delivered/fanout) >= window {
			time.Sleep(poll)
			continue
		}
		arg := payloadArg(time.Now().UnixNano(), r.s.Payload)
		switch {
		case r.rest != nil:
			err = r.rest.send("m", arg)
		case groups > 0:
			err = sender.InvokeTimed("SendToGroup", GroupName(int(sent)%groups), "m", arg)
		default:
			err = sender.InvokeTimed("SendToAll", "m", arg)
		}
		if err != nil {
			return fmt.Errorf("bench: sending: %w", err)
		}
		r.sent.Add(1)
	}
	sendEnd := time.Now()
	r.phase.Store("draining")
	expected := uint64(r.sent.Load()) * fanout
	last, lastAt := delivered, time.Now()
	for delivered < expected && time.Since(lastAt) < r.s.Drain {
		time.Sleep(2 * time.Millisecond)
		st, err := r.stats(false)
		if err != nil {
			return err
		}
		if delivered = st.Delivered; delivered != last {
			last, lastAt = delivered, time.Now()
		}
	}
	r.endCPU()
	elapsed := lastAt.Sub(start)
	if delivered >= expected {
		elapsed = time.Since(start)
	}
	elapsed = max(elapsed, sendEnd.Sub(start))
	st, err := r.stats(true)
	if err != nil {
		return err
	}
	if profErr != nil {
		if err := <-profErr; err != nil {
			fmt.Fprintf(errWriter(r.s.Progress), "\nprofile: %v\n", err)
		}
		profErr = nil
	}
	r.res.Sent = r.sent.Load()
	r.res.Delivered = st.Delivered
	r.res.DurationS = round3(elapsed.Seconds())
	r.res.DeliveriesPerSec = round3(float64(st.Delivered) / elapsed.Seconds())
	r.res.SendsPerSec = round3(float64(r.sent.Load()) / sendEnd.Sub(start).Seconds())
	r.res.LatP50Ms, r.res.LatP99Ms, r.res.LatMaxMs = ms(st.Latency.Quantile(0.5)), ms(st.Latency.Quantile(0.99)), float64(st.Latency.MaxUS)/1000
	r.res.LatHist = histJSON(st.Latency)
	r.res.Failures = st.Failures
	if r.rest != nil {
		r.rest.stop()
		r.res.Failures += r.rest.failures.Load()
		st.Failures = r.res.Failures
		if calls := r.rest.calls.Load(); calls > 0 {
			r.res.RESTCallMs = round3(float64(r.rest.callNanos.Load()) / float64(calls) / 1e6)
		}
	}
	if st.Delivered < expected {
		r.res.Lost = int64(expected - st.Delivered)
		r.res.invalidate("%d of %d deliveries lost", r.res.Lost, expected)
	} else if st.Delivered > expected {
		r.res.invalidate("%d deliveries more than sent (duplicates)", st.Delivered-expected)
	}
	if st.Failures > 0 {
		r.res.invalidate("%d sends failed", st.Failures)
	}
	if r.res.Sent == 0 {
		r.res.invalidate("nothing was sent")
	}
	r.res.Dropped = st.Dropped
	if st.Dropped > 0 {
		r.res.invalidate("%d connections dropped (%s)", st.Dropped, st.Error)
	}
	return nil
}

func errWriter(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// echo: every connection invokes Echo, one call in flight each.
func (r *run) echo() error {
	var running atomic.Bool
	arg := payloadArg(0, r.s.Payload)
	cfg, err := LoaderConfig{URL: r.srv.URL(), Protocol: r.s.Protocol.String(), SourceAddrs: r.s.SourceAddrs, Loops: r.s.Loops, Dialers: r.s.Dialers}.poolConfig()
	if err != nil {
		return err
	}
	var sendErr atomic.Value
	cfg.OnCompletion = func(c *Conn, _ bool) {
		if running.Load() {
			r.sent.Add(1)
			if err := c.InvokeTimed("Echo", arg); err != nil {
				r.sent.Add(-1)
				sendErr.CompareAndSwap(nil, err)
			}
		}
	}
	p, err := NewPool(cfg)
	if err != nil {
		return err
	}
	r.closeLoaders()
	r.setLoaders([]Loader{PoolLoaderOf(p)})
	if _, err := r.connectAll(0); err != nil {
		return err
	}
	r.phase.Store("echoing")
	r.markCPU()
	running.Store(true)
	start := time.Now()
	for _, c := range p.Conns() {
		if err := c.InvokeTimed("Echo", arg); err != nil {
			return err
		}
		r.sent.Add(1)
	}
	time.Sleep(time.Until(start.Add(r.s.Duration)))
	st := p.Stats(true)
	elapsed := time.Since(start)
	r.endCPU()
	running.Store(false)
	r.res.Sent = int64(st.Completions)
	r.res.EchoPerSec = round3(float64(st.Completions) / elapsed.Seconds())
	r.res.RTTP50Ms, r.res.RTTP99Ms, r.res.RTTMaxMs = ms(st.RTT.Quantile(0.5)), ms(st.RTT.Quantile(0.99)), float64(st.RTT.MaxUS)/1000
	r.res.RTTHist = histJSON(st.RTT)
	r.res.Failures = st.Failures
	r.res.DurationS = round3(elapsed.Seconds())
	// Every call made must come back.
	end := time.Now().Add(r.s.Drain)
	for p.Stats(false).Completions < uint64(r.sent.Load()) && time.Now().Before(end) {
		time.Sleep(5 * time.Millisecond)
	}
	if got, want := p.Stats(false).Completions, uint64(r.sent.Load()); got < want {
		r.res.Lost = int64(want - got)
		r.res.invalidate("%d invocations never completed", r.res.Lost)
	}
	if st.Failures > 0 {
		r.res.invalidate("%d echo calls failed", st.Failures)
	}
	if v := sendErr.Load(); v != nil {
		r.res.invalidate("send: %v", v)
	}
	return r.checkHeld()
}
