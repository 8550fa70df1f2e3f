package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Result is one scenario run against one target: one JSON object per
// line of output. Field names are stable; doc.go lists them.
type Result struct {
	Scenario  string  `json:"scenario"`
	Phase     string  `json:"phase,omitempty"` // fleet: step, broadcast or summary
	Target    string  `json:"target"`
	Protocol  string  `json:"protocol"`
	Payload   int     `json:"payload"`
	Conns     int     `json:"conns"`
	Groups    int     `json:"groups,omitempty"`
	GroupSize int     `json:"group_size,omitempty"`
	Window    int     `json:"window,omitempty"`
	Agents    int     `json:"agents"`
	Nodes     int     `json:"nodes,omitempty"`     // server processes on one backplane (absent: one, none)
	Backplane string  `json:"backplane,omitempty"` // what the nodes scale out on: redis, redis-cluster, postgres, nats
	DurationS float64 `json:"duration_s"`

	Sent             int64     `json:"sent,omitempty"`
	Delivered        uint64    `json:"delivered,omitempty"`
	DeliveriesPerSec float64   `json:"deliveries_per_sec,omitempty"`
	LatP50Ms         float64   `json:"lat_p50_ms,omitempty"`
	LatP99Ms         float64   `json:"lat_p99_ms,omitempty"`
	LatMaxMs         float64   `json:"lat_max_ms,omitempty"`
	LatHist          *HistJSON `json:"lat_hist,omitempty"`
	SendsPerSec      float64   `json:"sends_per_sec,omitempty"` // broadcast, group, rest
	RESTCallMs       float64   `json:"rest_call_ms,omitempty"`  // rest: the mean duration of a REST call

	ConnectsPerSec float64 `json:"connects_per_sec,omitempty"`

	EchoPerSec float64   `json:"echo_per_sec,omitempty"`
	RTTP50Ms   float64   `json:"rtt_p50_ms,omitempty"`
	RTTP99Ms   float64   `json:"rtt_p99_ms,omitempty"`
	RTTMaxMs   float64   `json:"rtt_max_ms,omitempty"`
	RTTHist    *HistJSON `json:"rtt_hist,omitempty"`

	RSSPerConnB       float64          `json:"rss_per_conn_b,omitempty"`
	HeapPerConnB      float64          `json:"heap_per_conn_b,omitempty"`
	HeapInusePerConnB float64          `json:"heap_inuse_per_conn_b,omitempty"`
	KernelPerConnB    float64          `json:"kernel_per_conn_b,omitempty"`
	GoroutinesPerConn *float64         `json:"goroutines_per_conn,omitempty"`
	ServerRSSB        int64            `json:"server_rss_b,omitempty"`
	LoadPerConnB      float64          `json:"load_per_conn_b,omitempty"`
	MachinePerConnB   float64          `json:"machine_per_conn_b,omitempty"`
	LoadRSSB          int64            `json:"load_rss_b,omitempty"`
	KernelB           int64            `json:"kernel_b,omitempty"`
	MemAvailableB     int64            `json:"mem_available_b,omitempty"`
	NodeRSSMinB       int64            `json:"node_rss_min_b,omitempty"`
	NodeRSSMaxB       int64            `json:"node_rss_max_b,omitempty"`
	ServerConns       int64            `json:"server_conns,omitempty"`
	ServerCloses      map[string]int64 `json:"server_closes,omitempty"`
	NodeRSSB          []int64          `json:"node_rss_b,omitempty"`
	ServerGoroutines  int              `json:"server_goroutines,omitempty"`

	// Fleet broadcasts: the time split, from the send, read from the
	// nodes' metrics (actorhub_last_remote_message_timestamp_seconds,
	// actorhub_last_send_timestamp_seconds; one clock, one machine).
	NodeRecvMs      []float64 `json:"node_recv_ms,omitempty"`       // by node: the message arrived (node 1: 0, the send)
	NodeDoneMs      []float64 `json:"node_done_ms,omitempty"`       // by node: its last write to a connection returned
	NodeRecvP50Ms   float64   `json:"node_recv_p50_ms,omitempty"`   // publish -> a node received, median
	NodeRecvMaxMs   float64   `json:"node_recv_max_ms,omitempty"`   // publish -> every node received
	NodeFanoutP50Ms float64   `json:"node_fanout_p50_ms,omitempty"` // a node's received -> its last write, median
	NodeFanoutMaxMs float64   `json:"node_fanout_max_ms,omitempty"` // ... the slowest node's
	LastWriteMs     float64   `json:"last_write_ms,omitempty"`      // publish -> the last write of every node
	ClientTailMs    float64   `json:"client_tail_ms,omitempty"`     // the last write -> the last client's receipt

	// Flood only.
	RSSIdleB        int64   `json:"rss_idle_b,omitempty"`
	RSSPeakB        int64   `json:"rss_peak_b,omitempty"`
	RSSAfterB       int64   `json:"rss_after_b,omitempty"`
	RSSPeakRatio    float64 `json:"rss_peak_ratio,omitempty"`
	RSSSeries       []int64 `json:"rss_series_b,omitempty"`
	RSSStepS        float64 `json:"rss_step_s,omitempty"`
	FloodSent       int64   `json:"flood_sent,omitempty"`
	ServerReceived  int64   `json:"server_received,omitempty"`
	DrainS          float64 `json:"drain_s,omitempty"`
	EchoAlonePerSec float64 `json:"echo_alone_per_sec,omitempty"`
	FloodError      string  `json:"flood_error,omitempty"`
	// FloodApart: the control run (Settings.FloodApart), the flood on a
	// second server, the honest client alone on the first.
	FloodApart bool `json:"flood_apart,omitempty"`

	Lost          int64   `json:"lost"`
	Dropped       int64   `json:"dropped"`
	Failures      uint64  `json:"failures,omitempty"`
	ServerCPUS    float64 `json:"server_cpu_s"`
	ClientCPUS    float64 `json:"client_cpu_s"`
	BackplaneCPUS float64 `json:"backplane_cpu_s,omitempty"`

	// NodeProcs is the GOMAXPROCS the nodes were started with (absent:
	// Go's default, every core). NodeCPUS and NodeWrites: each node's CPU
	// seconds and write system calls (syscw) over the measured phase,
	// node 1 first.
	NodeProcs  int       `json:"node_gomaxprocs,omitempty"`
	NodeCPUS   []float64 `json:"node_cpu_s,omitempty"`
	NodeWrites []uint64  `json:"node_writes,omitempty"`

	Valid       bool    `json:"valid"`
	Reason      string  `json:"invalid_reason,omitempty"`
	Unsupported bool    `json:"unsupported,omitempty"`
	StoppedBy   string  `json:"stopped_by,omitempty"` // fleet: what ended the growth
	ElapsedS    float64 `json:"elapsed_s,omitempty"`  // fleet: since the growth began

	Date    string `json:"date"`
	Machine string `json:"machine"`
	Command string `json:"command"`
}

// HistJSON is a latency histogram for plots: the lower edge in
// microseconds and the count of every non-empty bucket (each bucket ends
// where the next power-of-two eighth begins).
type HistJSON struct {
	LowerUS []uint64 `json:"lower_us"`
	Counts  []uint64 `json:"counts"`
}

func histJSON(h Hist) *HistJSON {
	lo, c := h.Buckets()
	if len(c) == 0 {
		return nil
	}
	return &HistJSON{LowerUS: lo, Counts: c}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// invalidate marks r invalid, keeping every reason.
func (r *Result) invalidate(format string, args ...any) {
	r.Valid = false
	reason := fmt.Sprintf(format, args...)
	if r.Reason == "" {
		r.Reason = reason
	} else {
		r.Reason += "; " + reason
	}
}

// WriteMarkdown writes results as a markdown table.
func WriteMarkdown(w io.Writer, rs []Result) {
	fmt.Fprintln(w, "| scenario | target | nodes | protocol | payload | conns | window | deliveries/s | lat p50/p99/max ms | connects/s | echo/s | rtt p50/p99 ms | B/conn rss / heap / kernel | goroutines/conn | lost | server / client / backplane CPU s | valid |")
	fmt.Fprintln(w, "|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	num := func(v float64, f string) string {
		if v == 0 {
			return ""
		}
		return fmt.Sprintf(f, v)
	}
	for _, r := range rs {
		lat, rtt, mem, gpc := "", "", "", ""
		if r.LatP50Ms != 0 || r.LatMaxMs != 0 {
			lat = fmt.Sprintf("%.1f / %.1f / %.1f", r.LatP50Ms, r.LatP99Ms, r.LatMaxMs)
		}
		if r.RTTP50Ms != 0 {
			rtt = fmt.Sprintf("%.2f / %.2f", r.RTTP50Ms, r.RTTP99Ms)
		}
		if r.RSSPerConnB != 0 || r.HeapPerConnB != 0 {
			mem = fmt.Sprintf("%.0f / %.0f / %.0f", r.RSSPerConnB, r.HeapPerConnB, r.KernelPerConnB)
		}
		if r.Scenario == "flood" {
			mem = fmt.Sprintf("RSS MB idle %.0f / peak %.0f (%.2fx) / after %.0f", float64(r.RSSIdleB)/1e6, float64(r.RSSPeakB)/1e6, r.RSSPeakRatio, float64(r.RSSAfterB)/1e6)
		}
		if r.GoroutinesPerConn != nil {
			gpc = fmt.Sprintf("%.3f", *r.GoroutinesPerConn)
		}
		valid := "yes"
		switch {
		case r.Unsupported:
			valid = "unsupported"
		case !r.Valid:
			valid = "NO: " + strings.ReplaceAll(r.Reason, "|", "/")
		}
		nodes := "1"
		if r.Nodes > 1 {
			nodes = fmt.Sprintf("%d on %s", r.Nodes, r.Backplane)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %d | %.1f / %.1f / %.2f | %s |\n",
			r.Scenario, r.Target, nodes, r.Protocol, r.Payload, r.Conns, num(float64(r.Window), "%.0f"), num(r.DeliveriesPerSec, "%.0f"), lat,
			num(r.ConnectsPerSec, "%.0f"), num(r.EchoPerSec, "%.0f"), rtt, mem, gpc, r.Lost, r.ServerCPUS, r.ClientCPUS, r.BackplaneCPUS, valid)
	}
}
