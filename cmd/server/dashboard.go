package main

import (
	"context"
	"net/http"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
)

// The dashboard (/dashboard) shows this node's state, live: a sampler reads
// every hub's counters and the process's memory once a second, keeps the
// last historyLen samples, and pushes each new one to the dashboard pages
// over SignalR from the dashboard hub (/hubs/dashboard). The hub is this
// node's own (it never uses the backplane); with a backplane, the samples
// carry the connection count of every node.

const (
	sampleEvery = time.Second
	historyLen  = 300 // 5 minutes at one sample a second; ~150 KB of samples
)

// sample is one second of the node's life, as the dashboard page reads it.
type sample struct {
	// T is when it was taken, in Unix milliseconds.
	T int64 `json:"t"`
	// Connections is every hub's connections past their handshake on this
	// node; Open also counts those still in their handshake.
	Connections int64 `json:"connections"`
	Open        int64 `json:"open"`
	// Hubs is the same per hub, in the order they are mounted.
	Hubs []hubSample `json:"hubs"`
	// Transports and Protocols split Connections by transport
	// (WebSockets, ServerSentEvents, LongPolling) and protocol (json,
	// messagepack).
	Transports map[string]int64 `json:"transports,omitempty"`
	Protocols  map[string]int64 `json:"protocols,omitempty"`
	// Nodes is the connections of every node of the deployment (all hubs),
	// by node id; nil without a backplane.
	Nodes map[string]int64 `json:"nodes,omitempty"`
	// The rates are per second over the last interval, every hub together.
	MessagesInPerSec  float64 `json:"messagesInPerSec"`
	MessagesOutPerSec float64 `json:"messagesOutPerSec"`
	BytesInPerSec     float64 `json:"bytesInPerSec"`
	BytesOutPerSec    float64 `json:"bytesOutPerSec"`
	// Closes counts connections ended since start, by reason (client,
	// transport, server, protocol, timeout, slow_consumer, shutdown,
	// handshake), every hub together.
	Closes map[string]uint64 `json:"closes"`
	// SlowConsumerDrops is Closes["slow_consumer"]: clients closed because
	// they did not read what was sent to them fast enough.
	SlowConsumerDrops uint64 `json:"slowConsumerDrops"`
	// Memory: the Go heap's live objects, the process's resident set, and
	// both divided by Open (0 without connections).
	HeapBytes       uint64  `json:"heapBytes"`
	RSSBytes        uint64  `json:"rssBytes"`
	HeapPerConn     float64 `json:"heapPerConn"`
	RSSPerConn      float64 `json:"rssPerConn"`
	Goroutines      int64   `json:"goroutines"`
	Ready           bool    `json:"ready"`
	NotReadyBecause string  `json:"notReadyBecause,omitempty"`
}

type hubSample struct {
	Name        string `json:"name"`
	Connections int64  `json:"connections"`
	Open        int64  `json:"open"`
}

// dashboardInfo is what a dashboard page asks for first.
type dashboardInfo struct {
	Node           string   `json:"node"`
	Backplane      string   `json:"backplane,omitempty"`
	Started        int64    `json:"started"` // Unix milliseconds
	GoVersion      string   `json:"goVersion"`
	CPUs           int      `json:"cpus"`
	Hubs           []string `json:"hubs"`
	SampleEveryMs  int64    `json:"sampleEveryMs"`
	HistorySamples int      `json:"historySamples"`
	History        []sample `json:"history"`
}

// dashboard samples the node and serves the dashboard hub.
type dashboard struct {
	hubs      []namedHub
	ready     *readiness
	node      string
	backplane string
	started   time.Time
	hub       *hub.Hub // the dashboard hub, set once mounted

	mu      sync.Mutex
	history []sample // guarded by mu: a ring of up to historyLen, oldest at next once full
	next    int      // guarded by mu
	prev    totals   // owned by the sampler
	stop    chan struct{}
	done    chan struct{}
}

// totals are the counters a rate is computed from.
type totals struct {
	at                                 time.Time
	msgsIn, msgsOut, bytesIn, bytesOut uint64
}

func newDashboard(ready *readiness, node, backplaneName string) *dashboard {
	if node == "" {
		node, _ = os.Hostname()
	}
	return &dashboard{
		ready: ready, node: node, backplane: backplaneName, started: time.Now(),
		history: make([]sample, 0, historyLen),
		stop:    make(chan struct{}), done: make(chan struct{}),
	}
}

func (d *dashboard) add(name string, h *hub.Hub) { d.hubs = append(d.hubs, namedHub{name, h}) }

// start runs the sampler until close.
func (d *dashboard) start() {
	d.prev = d.totals()
	// Owner: the dashboard. close (deferred where the server starts it)
	// closes stop and waits for done.
	go d.run()
}

func (d *dashboard) close() {
	close(d.stop)
	<-d.done
}

func (d *dashboard) run() {
	defer close(d.done)
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		s := d.sample(d.watched())
		d.record(s)
		if d.watched() {
			_ = d.hub.Clients().All().Send("Sample", s)
		}
	}
}

// record keeps s in the history, forgetting the oldest sample past
// historyLen.
func (d *dashboard) record(s sample) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.history) < historyLen {
		d.history = append(d.history, s)
		return
	}
	d.history[d.next] = s
	d.next = (d.next + 1) % historyLen
}

func (d *dashboard) totals() totals {
	t := totals{at: time.Now()}
	for _, h := range d.hubs {
		s := h.hub.Stats()
		t.msgsIn += s.MessagesIn
		t.msgsOut += s.MessagesOut
		t.bytesIn += s.BytesIn
		t.bytesOut += s.BytesOut
	}
	return t
}

// watched reports whether a dashboard page is connected.
func (d *dashboard) watched() bool { return d.hub != nil && d.hub.Stats().Connections > 0 }

// sample reads the node now; watched, it also asks the backplane for the
// other nodes' connections (nobody else needs them).
func (d *dashboard) sample(watched bool) sample {
	s := sample{T: time.Now().UnixMilli(), Closes: map[string]uint64{}, Transports: map[string]int64{}, Protocols: map[string]int64{}}
	cur := totals{at: time.Now()}
	for _, h := range d.hubs {
		st := h.hub.Stats()
		s.Hubs = append(s.Hubs, hubSample{Name: h.name, Connections: st.Connections, Open: int64(st.Open)})
		s.Connections += st.Connections
		s.Open += int64(st.Open)
		cur.msgsIn += st.MessagesIn
		cur.msgsOut += st.MessagesOut
		cur.bytesIn += st.BytesIn
		cur.bytesOut += st.BytesOut
		for reason, n := range st.Closes {
			s.Closes[reason] += n
		}
		for name, n := range st.Transports {
			s.Transports[name] += n
		}
		for name, n := range st.Protocols {
			s.Protocols[name] += n
		}
	}
	if dt := cur.at.Sub(d.prev.at).Seconds(); dt > 0 {
		rate := func(now, before uint64) float64 {
			if now < before {
				return 0
			}
			return float64(now-before) / dt
		}
		s.MessagesInPerSec = rate(cur.msgsIn, d.prev.msgsIn)
		s.MessagesOutPerSec = rate(cur.msgsOut, d.prev.msgsOut)
		s.BytesInPerSec = rate(cur.bytesIn, d.prev.bytesIn)
		s.BytesOutPerSec = rate(cur.bytesOut, d.prev.bytesOut)
	}
	d.prev = cur
	s.SlowConsumerDrops = s.Closes["slow_consumer"]

	s.HeapBytes, s.Goroutines = runtimeStats()
	s.RSSBytes = residentBytes()
	if s.Open > 0 {
		s.HeapPerConn = float64(s.HeapBytes) / float64(s.Open)
		s.RSSPerConn = float64(s.RSSBytes) / float64(s.Open)
	}
	if watched && d.backplane != "" {
		ctx, cancel := context.WithTimeout(context.Background(), sampleEvery/2)
		s.Nodes = d.nodeCounts(ctx)
		cancel()
	}
	if d.ready != nil {
		if err := d.ready.check(context.Background()); err != nil {
			s.NotReadyBecause = err.Error()
		} else {
			s.Ready = true
		}
	}
	return s
}

// nodeCounts is every node's connections, every hub together, or nil when
// the backplane cannot say.
func (d *dashboard) nodeCounts(ctx context.Context) map[string]int64 {
	out := map[string]int64{}
	for _, h := range d.hubs {
		counts, err := h.hub.NodeConnectionCounts(ctx)
		if err != nil {
			return nil
		}
		for node, n := range counts {
			out[node] += n
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// snapshot is the node's description and its history, oldest first.
func (d *dashboard) snapshot() dashboardInfo {
	info := dashboardInfo{
		Node: d.node, Backplane: d.backplane, Started: d.started.UnixMilli(),
		GoVersion: runtime.Version(), CPUs: runtime.GOMAXPROCS(0),
		SampleEveryMs: sampleEvery.Milliseconds(), HistorySamples: historyLen,
	}
	for _, h := range d.hubs {
		info.Hubs = append(info.Hubs, h.name)
	}
	d.mu.Lock()
	info.History = make([]sample, 0, len(d.history))
	info.History = append(info.History, d.history[d.next:]...)
	info.History = append(info.History, d.history[:d.next]...)
	d.mu.Unlock()
	return info
}

// runtimeStats reads the Go heap's objects and the goroutine count, without
// stopping the world.
func runtimeStats() (heap uint64, goroutines int64) {
	runtimeSamples := []rtmetrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/sched/goroutines:goroutines"},
	}
	rtmetrics.Read(runtimeSamples)
	if v := runtimeSamples[0].Value; v.Kind() == rtmetrics.KindUint64 {
		heap = v.Uint64()
	}
	if v := runtimeSamples[1].Value; v.Kind() == rtmetrics.KindUint64 {
		goroutines = int64(v.Uint64())
	}
	return heap, goroutines
}

// residentBytes is the process's resident set size (Linux; 0 elsewhere).
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

// dashboardHub is the hub at /hubs/dashboard: the page calls Snapshot once,
// then hears Sample(sample) every second.
type dashboardHub struct{ d *dashboard }

// Snapshot is the node's description and the samples of the last minutes.
func (h dashboardHub) Snapshot() dashboardInfo { return h.d.snapshot() }

// opsPaths are the operator pages' paths on the public mux (the ops mux
// serves what is behind them).
var opsPaths = []string{"/metrics", "/debug/pprof/", "/dashboard", dashboardHubPath, dashboardHubPath + "/negotiate"}

const dashboardHubPath = "/hubs/dashboard"

// mountDashboard serves the dashboard page and its hub on ops. The hub is
// this node's own: it never uses the backplane.
func mountDashboard(ops *http.ServeMux, pages *site, d *dashboard, hubCfg hub.Config, tcfg transports.Config) (*hub.Hub, *transports.Handler, error) {
	hubCfg.Name = "dashboard"
	hubCfg.Backplane = nil
	hubCfg.NodeID = ""
	h, err := hub.New(dashboardHub{d}, hubCfg)
	if err != nil {
		return nil, nil, err
	}
	hd, err := transports.NewHandler(h, tcfg)
	if err != nil {
		_ = h.Shutdown(context.Background())
		return nil, nil, err
	}
	hd.Mount(ops, dashboardHubPath)
	ops.Handle("GET /dashboard", pages.page("dashboard.html"))
	d.hub = h
	return h, hd, nil
}
