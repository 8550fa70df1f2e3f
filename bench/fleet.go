package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The fleet scenario: K nodes on one Redis, M agent processes. It grows
// the connections in steps, spread over the agents and the nodes, until
// Settings.Conns are held or something stops it (a connect that keeps
// failing, free memory near Settings.MemFloor, the time budget, a node
// that dies, dropped connections), then times a few SendToAll broadcasts
// from node 1 to every connection. Every step and every broadcast is
// handed to Settings.Emit; Run returns the summary.

// Fleet defaults.
const (
	defaultFleetStep   = 50_000
	defaultMemFloor    = 2 << 30
	defaultFleetBudget = 15 * time.Minute
	defaultBroadcasts  = 3
)

// MemAvailable is the kernel's estimate of memory available for new work
// (MemAvailable in /proc/meminfo), in bytes.
func MemAvailable() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("bench: no MemAvailable in /proc/meminfo")
}

// fleetSample is the memory the fleet holds at one moment.
type fleetSample struct {
	server, load, kernel, avail int64
	perNode                     []ProcSample
}

func (r *run) fleetSample() fleetSample {
	var f fleetSample
	total, per, _ := r.cl.Sample()
	f.server, f.perNode = total.RSSBytes, per
	for _, l := range r.loaders {
		if a, ok := l.(interface{ PID() int }); ok {
			if ps, err := ReadProc(a.PID()); err == nil {
				f.load += ps.RSSBytes
			}
		}
	}
	f.kernel, _ = KernelSocketBytes()
	f.avail, _ = MemAvailable()
	return f
}

// gcNodes makes every node collect garbage twice (sync.Pool victims).
func (r *run) gcNodes() {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, n := range r.cl.Nodes {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			n.GC()
			n.GC()
		})
	}
	wg.Wait()
}

// cursor is how far one loader has gone through its parts.
type cursor struct {
	parts []part
	i     int // the part being filled
	done  int // connections of parts[i] made
}

func (c *cursor) left() int {
	n := 0
	for j := c.i; j < len(c.parts); j++ {
		n += c.parts[j].n
	}
	return n - c.done
}

// stepShares splits a step over loaders as evenly as their connections
// left allow: no loader gets more than it has left, and the step is
// whole if the loaders have that many left in all.
func stepShares(step int, lefts []int) []int {
	out := make([]int, len(lefts))
	for step > 0 {
		open := 0
		for i, l := range lefts {
			if out[i] < l {
				open++
			}
		}
		if open == 0 {
			break
		}
		each := max(1, step/open)
		for i, l := range lefts {
			if step == 0 {
				break
			}
			if n := min(each, l-out[i], step); n > 0 {
				out[i] += n
				step -= n
			}
		}
	}
	return out
}

// fleet runs the fleet scenario: r.parts lay out every connection.
func (r *run) fleet() error {
	s := r.s
	urls := r.cl.URLs()
	curs := make([]*cursor, len(r.loaders))
	for i := range curs {
		curs[i] = &cursor{}
	}
	for _, p := range r.parts {
		curs[p.loader].parts = append(curs[p.loader].parts, p)
	}
	emit := func(res Result) {
		if s.Emit != nil {
			s.Emit(res)
		}
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(errWriter(s.Progress), "fleet: "+format+"\n", args...)
	}
	base := r.fleetSample()
	baseMetrics := r.nodeMetrics()
	redis := "no backplane"
	if r.cl.Backplane != nil {
		redis = r.cl.Kind + " on " + r.cl.Backplane.Addr
	}
	logf("%d nodes, %d agents, %s; before: server RSS %s, load RSS %s, kernel sockets %s, available %s",
		len(r.cl.Nodes), len(r.loaders), redis, gib(base.server), gib(base.load), gib(base.kernel), gib(base.avail))
	r.markCPU()
	start := time.Now()
	deadline := start.Add(s.Budget)
	held, failedSteps := 0, 0
	stop := ""
	for stop == "" {
		left := s.Conns - held
		if left <= 0 {
			stop = fmt.Sprintf("reached -conns %d", s.Conns)
			break
		}
		if time.Now().After(deadline) {
			stop = fmt.Sprintf("time budget %v ran out", s.Budget)
			break
		}
		step := min(s.Step, left)
		// Never plan past the floor: project this step on the memory each
		// connection has taken so far (machine-wide, MemAvailable).
		if avail, err := MemAvailable(); err == nil && held > 0 {
			per := float64(base.avail-avail) / float64(held)
			room := int(float64(avail-s.MemFloor) / max(per, 1))
			if room < step {
				step = room
				if step < 1000 {
					stop = fmt.Sprintf("free memory: %s available, %s floor, %.0f B per connection", gib(avail), gib(s.MemFloor), per)
					break
				}
			}
		}
		stepStart := time.Now()
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		watchDone := make(chan struct{})
		var watchReason string
		var wg sync.WaitGroup
		wg.Go(func() { // the memory floor, while connecting
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-watchDone:
					return
				case <-t.C:
				}
				if avail, err := MemAvailable(); err == nil && avail < s.MemFloor {
					watchReason = fmt.Sprintf("free memory fell to %s (floor %s) while connecting", gib(avail), gib(s.MemFloor))
					cancel()
					return
				}
				if err := r.cl.Died(); err != nil {
					watchReason = err.Error()
					cancel()
					return
				}
			}
		})
		lefts := make([]int, len(curs))
		for i, c := range curs {
			lefts[i] = c.left()
		}
		perLoader := stepShares(step, lefts)
		errs := make([]error, len(r.loaders))
		var cwg sync.WaitGroup
		for i, c := range curs {
			want := perLoader[i]
			cwg.Go(func() {
				for want > 0 && c.i < len(c.parts) && ctx.Err() == nil {
					p := c.parts[c.i]
					n := min(want, p.n-c.done)
					if err := r.loaders[p.loader].Connect(ctx, urls[p.node], n, 0, p.offset+c.done); err != nil {
						errs[i] = err
						return
					}
					want -= n
					c.done += n
					if c.done == p.n {
						c.i, c.done = c.i+1, 0
					}
				}
			})
		}
		cwg.Wait()
		close(watchDone)
		wg.Wait()
		cancel()
		st, serr := r.stats(false)
		if serr != nil {
			return serr
		}
		// A failed connect leaves the connections made before it: the
		// cursors follow what is up, per loader, at the next step.
		r.resyncCursors(curs)
		elapsed := time.Since(stepStart)
		prev := held
		held = int(st.Up) - r.senderUp()
		made := held - prev
		m := r.fleetSample()
		res := r.fleetResult("step", held)
		r.serverCounts(&res, baseMetrics)
		res.DurationS = round3(elapsed.Seconds())
		res.ElapsedS = round3(time.Since(start).Seconds())
		res.ConnectsPerSec = round3(float64(made) / elapsed.Seconds())
		r.memFigures(&res, base, m, held)
		res.Dropped = st.Dropped
		err := errors.Join(errs...)
		if err != nil {
			res.invalidate("%v", err)
		}
		// The agents count a connection up once its handshake is done;
		// one the server ends without the client hearing of it (a lost
		// RST) would look up to them forever.
		lostServer := res.ServerConns > 0 && int(res.ServerConns) < held
		if lostServer {
			res.invalidate("the nodes hold %d of the %d connections the agents hold (closed: %v)", res.ServerConns, held, res.ServerCloses)
		}
		emit(res)
		logf("held %d/%d (+%d at %.0f/s; the nodes hold %d, closed %v), server RSS %s, load RSS %s, kernel sockets +%s, available %s, %.0fs",
			held, s.Conns, made, res.ConnectsPerSec, res.ServerConns, res.ServerCloses, gib(m.server), gib(m.load), gib(m.kernel-base.kernel), gib(m.avail), res.ElapsedS)
		if err == nil && !lostServer && st.Dropped == 0 && watchReason == "" && r.cl.Died() == nil && crosses(s.BroadcastAt, prev, held) {
			if err := r.curveBroadcast(held, base, baseMetrics, emit, logf); err != nil {
				return err
			}
		}
		switch {
		case watchReason != "":
			stop = watchReason
		case lostServer:
			stop = fmt.Sprintf("the nodes hold %d of the %d connections the agents hold (closed: %v)", res.ServerConns, held, res.ServerCloses)
		case st.Dropped > 0:
			stop = fmt.Sprintf("%d connections dropped: %s", st.Dropped, st.Error)
		case err != nil && time.Now().After(deadline):
			stop = fmt.Sprintf("time budget %v ran out", s.Budget)
		case err == nil && made <= 0:
			stop = fmt.Sprintf("a step of %d made no connection", step)
		case err != nil:
			failedSteps++
			logf("connect failed (%d): %v", failedSteps, err)
			if failedSteps >= 3 {
				stop = fmt.Sprintf("connects failed in %d steps, the last: %v", failedSteps, err)
			}
		default:
			failedSteps = 0
		}
	}
	logf("stopped growing: %s", stop)
	r.logNodeLines(logf)
	growth := time.Since(start)
	r.endCPU()
	cpuServer, cpuClient, cpuBackplane := r.res.ServerCPUS, r.res.ClientCPUS, r.res.BackplaneCPUS

	// Broadcasts from node 1 to every connection.
	var bres []Result
	if held > 0 && r.cl.Died() == nil {
		if r.sender == nil {
			if err := r.openSender(nil); err != nil {
				return err
			}
		}
		stopProfiles := r.fleetProfiles()
		for b := range s.Broadcasts {
			res, err := r.fleetBroadcast()
			if err != nil {
				return err
			}
			emit(res)
			bres = append(bres, res)
			logf("broadcast %d to %d: p50 %.1f ms, p99 %.1f ms, all in %.1f ms, lost %d", b+1, res.Delivered, res.LatP50Ms, res.LatP99Ms, res.LatMaxMs, res.Lost)
			logSplit(logf, res)
			time.Sleep(time.Second)
		}
		stopProfiles(logf)
	}

	// The summary: what was held, and what each connection costs after GC.
	r.gcNodes()
	time.Sleep(s.Settle)
	m := r.fleetSample()
	res := r.fleetResult("summary", held)
	res.ElapsedS = round3(time.Since(start).Seconds())
	res.DurationS = round3(growth.Seconds())
	res.ConnectsPerSec = round3(float64(held) / growth.Seconds())
	res.ServerCPUS, res.ClientCPUS, res.BackplaneCPUS = cpuServer, cpuClient, cpuBackplane
	r.memFigures(&res, base, m, held)
	res.StoppedBy = stop
	r.serverCounts(&res, baseMetrics)
	if res.ServerConns > 0 && int(res.ServerConns) < held {
		res.invalidate("the nodes hold %d of the %d connections the agents hold (closed: %v)", res.ServerConns, held, res.ServerCloses)
	}
	if mt := r.nodeMetrics(); mt["go_memstats_heap_alloc_bytes"] > 0 && held > 0 {
		n := float64(held)
		res.HeapPerConnB = float64(int64((mt["go_memstats_heap_alloc_bytes"] - baseMetrics["go_memstats_heap_alloc_bytes"]) / n))
		res.HeapInusePerConnB = float64(int64((mt["go_memstats_heap_inuse_bytes"] - baseMetrics["go_memstats_heap_inuse_bytes"]) / n))
		g := round3((mt["go_goroutines"] - baseMetrics["go_goroutines"]) / n)
		res.GoroutinesPerConn = &g
		res.ServerGoroutines = int(mt["go_goroutines"])
	}
	for _, b := range bres {
		res.Sent += b.Sent
		res.Delivered += b.Delivered
		res.Lost += b.Lost
		res.LatMaxMs = max(res.LatMaxMs, b.LatMaxMs)
		res.LatP99Ms = max(res.LatP99Ms, b.LatP99Ms)
		res.LatP50Ms = max(res.LatP50Ms, b.LatP50Ms)
		if !b.Valid {
			res.invalidate("broadcast: %s", b.Reason)
		}
	}
	if held == 0 {
		res.invalidate("no connection was made")
	}
	st, err := r.stats(false)
	if err != nil {
		return err
	}
	res.Dropped = st.Dropped
	if st.Dropped > 0 {
		res.invalidate("%d connections dropped (%s)", st.Dropped, st.Error)
	}
	if len(res.ServerCloses) > 0 {
		r.logNodeLines(logf)
	}
	logf("summary: %d connections; per connection: server %.0f B, kernel %.0f B, load %.0f B (machine: %.0f B)",
		held, res.RSSPerConnB, res.KernelPerConnB, res.LoadPerConnB, res.MachinePerConnB)
	*r.res = res
	return nil
}

// resyncCursors moves each loader's cursor to the connections it holds
// (a step that failed or was cancelled made fewer than asked).
func (r *run) resyncCursors(curs []*cursor) {
	for i, l := range r.loaders {
		st, err := l.Stats(false)
		if err != nil {
			continue
		}
		c := curs[i]
		have := int(st.Up + st.Dropped)
		c.i, c.done = 0, 0
		for c.i < len(c.parts) && have >= c.parts[c.i].n {
			have -= c.parts[c.i].n
			c.i++
		}
		c.done = have
	}
}

// fleetResult is a Result of the fleet with what every line carries.
func (r *run) fleetResult(phase string, held int) Result {
	res := *r.res
	res.Phase = phase
	res.Conns = held
	res.Nodes = len(r.cl.Nodes)
	res.Agents = len(r.loaders)
	res.Date = time.Now().UTC().Format(time.RFC3339)
	res.LatHist = nil
	res.ServerCPUS, res.ClientCPUS, res.BackplaneCPUS = 0, 0, 0 // the summary has them
	return res
}

// memFigures fills the memory fields: totals now, and growth since base
// per connection.
func (r *run) memFigures(res *Result, base, m fleetSample, held int) {
	res.ServerRSSB = m.server
	res.LoadRSSB = m.load
	res.KernelB = m.kernel - base.kernel
	res.MemAvailableB = m.avail
	if len(m.perNode) > 0 {
		lo, hi := m.perNode[0].RSSBytes, m.perNode[0].RSSBytes
		for _, p := range m.perNode {
			lo, hi = min(lo, p.RSSBytes), max(hi, p.RSSBytes)
		}
		res.NodeRSSMinB, res.NodeRSSMaxB = lo, hi
	}
	if held > 0 {
		n := float64(held)
		res.RSSPerConnB = float64(int64(float64(m.server-base.server) / n))
		res.KernelPerConnB = float64(int64(float64(m.kernel-base.kernel) / n))
		res.LoadPerConnB = float64(int64(float64(m.load-base.load) / n))
		res.MachinePerConnB = float64(int64(float64(base.avail-m.avail) / n))
	}
}

// logNodeLines shows what the nodes last wrote on stderr, each distinct
// line once (the actorhub target logs warnings and errors only).
func (r *run) logNodeLines(logf func(string, ...any)) {
	seen := map[string]int{}
	var order []string
	for _, n := range r.cl.Nodes {
		for line := range strings.SplitSeq(n.StderrTail(), "\n") {
			if line == "" || strings.HasPrefix(line, "listening on") {
				continue
			}
			// time=... varies: count lines by what follows it.
			key := line
			if _, rest, ok := strings.Cut(line, " level="); ok {
				key = "level=" + rest
			}
			if seen[key] == 0 {
				order = append(order, key)
			}
			seen[key]++
		}
	}
	for _, k := range order {
		logf("nodes said (%d×): %s", seen[k], k)
	}
}

// serverCounts fills the connections the nodes hold past their
// handshake and the closes since base, by reason, from their /metrics.
func (r *run) serverCounts(res *Result, base map[string]float64) {
	mt := r.nodeMetrics()
	hub := `hub="` + strings.TrimPrefix(HubPath, "/hubs/") + `"`
	res.ServerConns = int64(mt["actorhub_connections{"+hub+"}"])
	for k, v := range mt {
		if reason, ok := strings.CutPrefix(k, "actorhub_closes_total{"+hub+`,reason="`); ok {
			if n := int64(v - base[k]); n > 0 {
				if res.ServerCloses == nil {
					res.ServerCloses = map[string]int64{}
				}
				res.ServerCloses[strings.TrimSuffix(reason, `"}`)] = n
			}
		}
	}
}

// nodeMetrics adds up every node's /metrics samples.
func (r *run) nodeMetrics() map[string]float64 {
	total := map[string]float64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, n := range r.cl.Nodes {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			mt, err := n.Metrics()
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for k, v := range mt {
				total[k] += v
			}
		})
	}
	wg.Wait()
	return total
}

// fleetBroadcast sends one SendToAll from node 1 and waits until every
// connection (the sender too) has it, or nothing arrives for Drain.
func (r *run) fleetBroadcast() (Result, error) {
	if err := r.reset(); err != nil {
		return Result{}, err
	}
	st, err := r.stats(false)
	if err != nil {
		return Result{}, err
	}
	expected := uint64(st.Up) // the sender is one of them
	res := r.fleetResult("broadcast", int(st.Up)-1)
	cpuNodes0, _ := r.serverCPU()
	cpuAgents0 := r.loaderCPU()
	start := time.Now()
	if err := r.sender.Conns()[0].InvokeTimed("SendToAll", "m", payloadArg(start.UnixNano(), r.s.Payload)); err != nil {
		return res, fmt.Errorf("bench: sending: %w", err)
	}
	var delivered uint64
	last, lastAt := uint64(0), time.Now()
	// Every poll asks every agent: keep it light, the receivers time
	// the deliveries themselves.
	poll := 20 * time.Millisecond * time.Duration(max(1, len(r.loaders)/4))
	for delivered < expected && time.Since(lastAt) < r.s.Drain {
		time.Sleep(min(poll, 250*time.Millisecond))
		st, err := r.stats(false)
		if err != nil {
			return res, err
		}
		if delivered = st.Delivered; delivered != last {
			last, lastAt = delivered, time.Now()
		}
	}
	res.DurationS = round3(time.Since(start).Seconds())
	// What the broadcast cost the nodes and the agents (the agents' share
	// includes answering the polls above).
	cpuNodes1, _ := r.serverCPU()
	res.ServerCPUS, res.ClientCPUS = round3(cpuNodes1-cpuNodes0), round3(r.loaderCPU()-cpuAgents0)
	st, err = r.stats(true)
	if err != nil {
		return res, err
	}
	res.Sent = 1
	res.Delivered = st.Delivered
	res.LatP50Ms, res.LatP99Ms, res.LatMaxMs = ms(st.Latency.Quantile(0.5)), ms(st.Latency.Quantile(0.99)), float64(st.Latency.MaxUS)/1000
	res.LatHist = histJSON(st.Latency)
	res.Failures = st.Failures
	res.Dropped = st.Dropped
	if st.Delivered < expected {
		res.Lost = int64(expected - st.Delivered)
		res.invalidate("%d of %d deliveries lost", res.Lost, expected)
	} else if st.Delivered > expected {
		res.invalidate("%d deliveries more than connections (duplicates)", st.Delivered-expected)
	}
	if st.Failures > 0 {
		res.invalidate("the send failed")
	}
	r.split(&res, start)
	return res, nil
}

// fleetProfiles starts, with Settings.ProfileDir, CPU profiles of
// Settings.Duration of node 2 (node 1 in a fleet of one) and of the first
// agent, for the broadcasts that follow; the function it returns waits
// for them.
func (r *run) fleetProfiles() func(logf func(string, ...any)) {
	if r.s.ProfileDir == "" {
		return func(func(string, ...any)) {}
	}
	errs := make(chan error, 2)
	n := r.cl.Nodes[min(1, len(r.cl.Nodes)-1)]
	var wg sync.WaitGroup
	wg.Go(func() { errs <- n.Profile(r.s.ProfileDir+"/fleet-node.pprof", r.s.Duration) })
	if a, ok := r.loaders[0].(*Agent); ok {
		wg.Go(func() { errs <- a.Profile(r.s.ProfileDir+"/fleet-agent.pprof", r.s.Duration) })
	}
	return func(logf func(string, ...any)) {
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				logf("profile: %v", err)
			}
		}
		logf("profiles in %s (fleet-node.pprof, fleet-agent.pprof)", r.s.ProfileDir)
	}
}

// senderUp is 1 once the sender's connection is open (r.stats counts it).
func (r *run) senderUp() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sender == nil {
		return 0
	}
	return int(r.sender.Stats(false).Up)
}

// crosses reports whether growing from prev to held connections reached
// one of the counts in at.
func crosses(at []int, prev, held int) bool {
	for _, n := range at {
		if prev < n && n <= held {
			return true
		}
	}
	return false
}

// curveBroadcast times one SendToAll while the fleet grows (-broadcast-at),
// with the memory per connection at that count after a GC of every node.
func (r *run) curveBroadcast(held int, base fleetSample, baseMetrics map[string]float64, emit func(Result), logf func(string, ...any)) error {
	r.gcNodes()
	m := r.fleetSample()
	mt := r.nodeMetrics()
	if r.sender == nil {
		if err := r.openSender(nil); err != nil {
			return err
		}
	}
	res, err := r.fleetBroadcast()
	if err != nil {
		return err
	}
	r.memFigures(&res, base, m, held)
	if mt["go_memstats_heap_alloc_bytes"] > 0 {
		res.HeapPerConnB = float64(int64((mt["go_memstats_heap_alloc_bytes"] - baseMetrics["go_memstats_heap_alloc_bytes"]) / float64(held)))
	}
	emit(res)
	logf("broadcast at %d: p50 %.1f ms, p99 %.1f ms, all in %.1f ms, lost %d", res.Conns, res.LatP50Ms, res.LatP99Ms, res.LatMaxMs, res.Lost)
	logSplit(logf, res)
	return nil
}

// split reads from every node when the broadcast sent at start reached it
// through the backplane (node 1, the sender's, has it at once) and when
// it wrote its last connection, and fills the time split of res:
// publish -> every node received, each node's own fan-out, and the
// clients' tail after the last write.
func (r *run) split(res *Result, start time.Time) {
	recv := make([]float64, len(r.cl.Nodes))
	done := make([]float64, len(r.cl.Nodes))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	ok := true
	var mu sync.Mutex
	t0 := float64(start.UnixNano()) / 1e9
	for i, n := range r.cl.Nodes {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			mt, err := n.Metrics()
			hub := `{hub="` + strings.TrimPrefix(HubPath, "/hubs/") + `"}`
			last, remote := mt["actorhub_last_send_timestamp_seconds"+hub], mt["actorhub_last_remote_message_timestamp_seconds"+hub]
			mu.Lock()
			defer mu.Unlock()
			if err != nil || last == 0 || (i > 0 && remote < t0) {
				ok = false // an older server, or the message never came
				return
			}
			if i == 0 {
				remote = t0
			}
			recv[i] = round3((remote - t0) * 1000)
			done[i] = round3((last - t0) * 1000)
		})
	}
	wg.Wait()
	if !ok || len(recv) == 0 {
		return
	}
	res.NodeRecvMs, res.NodeDoneMs = recv, done
	fan := make([]float64, len(recv))
	for i := range recv {
		fan[i] = done[i] - recv[i]
	}
	res.NodeRecvP50Ms, res.NodeRecvMaxMs = quantile(recv, 0.5), slices.Max(recv)
	res.NodeFanoutP50Ms, res.NodeFanoutMaxMs = quantile(fan, 0.5), slices.Max(fan)
	res.LastWriteMs = slices.Max(done)
	res.ClientTailMs = round3(res.LatMaxMs - res.LastWriteMs)
}

// quantile is the q-quantile of xs (nearest rank), xs unchanged.
func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// logSplit prints a broadcast's time split, when the nodes gave it.
func logSplit(logf func(string, ...any), res Result) {
	if res.NodeDoneMs == nil {
		return
	}
	logf("  split: publish -> nodes received p50 %.1f ms, all %.1f ms; a node's fan-out p50 %.1f ms, max %.1f ms; last write at %.1f ms; clients' tail after it %.1f ms",
		res.NodeRecvP50Ms, res.NodeRecvMaxMs, res.NodeFanoutP50Ms, res.NodeFanoutMaxMs, res.LastWriteMs, res.ClientTailMs)
}

func gib(b int64) string { return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30)) }
