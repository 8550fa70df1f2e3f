package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/actorhub/actorhub/bench"
)

// "bench plot" draws the cost curves of BENCHMARKS.md from fleet results
// (JSONL): memory per connection and broadcast latency against the
// connection count, as SVG with no dependency.
//
//	go run ./cmd/bench plot -out docs/img bench/results/a.jsonl bench/results/b.jsonl
//
// A fleet broadcast line with rss_per_conn_b (one timed at a -broadcast-at
// count) gives a memory point; every fleet broadcast line gives latency
// points (the median of the broadcasts at one count). Runs of one node and
// runs of several are drawn as separate series.

// curvePoint is what one connection count of one series shows.
type curvePoint struct {
	conns               int
	rssPerConn          float64 // 0: not measured at this count
	heapPerConn         float64
	p50, p99, last      float64 // ms, medians over the broadcasts
	lastWrite, recvNode float64 // ms, medians (fleet split)
	broadcasts          int
}

type curveSeries struct {
	name   string
	points []curvePoint
}

func runPlot(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench plot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "docs/img", "directory for the SVG files")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "bench plot: name one or more fleet result files (JSONL)")
		return 2
	}
	var results []bench.Result
	for _, path := range fs.Args() {
		rs, err := readResults(path)
		if err != nil {
			fmt.Fprintln(stderr, "bench plot:", err)
			return 1
		}
		results = append(results, rs...)
	}
	series := curves(results)
	if len(series) == 0 {
		fmt.Fprintln(stderr, "bench plot: no fleet broadcast in the files")
		return 1
	}
	files := map[string]string{
		"cost-memory.svg":  memoryPlot(series),
		"cost-latency.svg": latencyPlot(series),
	}
	for name, svg := range files {
		path := filepath.Join(*out, name)
		if err := os.WriteFile(path, []byte(svg), 0o644); err != nil {
			fmt.Fprintln(stderr, "bench plot:", err)
			return 1
		}
		fmt.Fprintln(stdout, "wrote", path)
	}
	for _, s := range series {
		fmt.Fprintf(stdout, "%s:\n", s.name)
		for _, p := range s.points {
			fmt.Fprintf(stdout, "  %9d conns: RSS %6.0f B/conn, heap %5.0f B/conn; broadcast p50 %8.1f ms, p99 %8.1f ms, last %8.1f ms (%d)\n",
				p.conns, p.rssPerConn, p.heapPerConn, p.p50, p.p99, p.last, p.broadcasts)
		}
	}
	return 0
}

func readResults(path string) ([]bench.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []bench.Result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r bench.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// curves groups the valid fleet broadcasts into a series for one node and
// one for several, a point per connection count.
func curves(results []bench.Result) []curveSeries {
	type acc struct {
		rss, heap                        float64
		p50, p99, last, lastWrite, nodes []float64
	}
	byKind := map[string]map[int]*acc{}
	for _, r := range results {
		if r.Scenario != "fleet" || r.Phase != "broadcast" || !r.Valid {
			continue
		}
		kind := "one node"
		if r.Nodes > 1 {
			kind = "fleet (nodes of ≤19,608 on one Redis)"
		}
		if byKind[kind] == nil {
			byKind[kind] = map[int]*acc{}
		}
		a := byKind[kind][r.Conns]
		if a == nil {
			a = &acc{}
			byKind[kind][r.Conns] = a
		}
		if r.RSSPerConnB > 0 {
			a.rss, a.heap = r.RSSPerConnB, r.HeapPerConnB
		}
		a.p50 = append(a.p50, r.LatP50Ms)
		a.p99 = append(a.p99, r.LatP99Ms)
		a.last = append(a.last, r.LatMaxMs)
		if r.LastWriteMs > 0 {
			a.lastWrite = append(a.lastWrite, r.LastWriteMs)
			a.nodes = append(a.nodes, r.NodeRecvMaxMs)
		}
	}
	// The memory of a count with no curve point: the run's summary (after
	// a GC, like the curve points).
	for _, r := range results {
		// A summary invalid for a lost broadcast still measured memory;
		// one with dropped connections did not hold what it says.
		if r.Scenario != "fleet" || r.Phase != "summary" || r.Dropped > 0 || r.RSSPerConnB <= 0 {
			continue
		}
		kind := "one node"
		if r.Nodes > 1 {
			kind = "fleet (nodes of ≤19,608 on one Redis)"
		}
		if a := byKind[kind][r.Conns]; a != nil && a.rss == 0 {
			a.rss, a.heap = r.RSSPerConnB, r.HeapPerConnB
		}
	}
	var out []curveSeries
	for _, kind := range []string{"one node", "fleet (nodes of ≤19,608 on one Redis)"} {
		m := byKind[kind]
		if len(m) == 0 {
			continue
		}
		s := curveSeries{name: kind}
		for conns, a := range m {
			s.points = append(s.points, curvePoint{
				conns: conns, rssPerConn: a.rss, heapPerConn: a.heap,
				p50: median(a.p50), p99: median(a.p99), last: median(a.last),
				lastWrite: median(a.lastWrite), recvNode: median(a.nodes), broadcasts: len(a.last),
			})
		}
		slices.SortFunc(s.points, func(a, b curvePoint) int { return a.conns - b.conns })
		out = append(out, s)
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// The plots: a log x axis of connections; y linear (memory) or log
// (latency).

const (
	plotW, plotH                       = 720, 420
	marginL, marginR, marginT, marginB = 80, 20, 40, 60
)

type line struct {
	name  string
	color string
	dash  bool
	xs    []float64
	ys    []float64
}

type axis struct {
	lo, hi float64
	log    bool
	ticks  []float64
	label  func(float64) string
	title  string
}

func (a axis) pos(v float64, from, to float64) float64 {
	f := (v - a.lo) / (a.hi - a.lo)
	if a.log {
		f = (math.Log10(v) - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
	}
	return from + f*(to-from)
}

func connsAxis() axis {
	return axis{lo: 800, hi: 1.25e6, log: true,
		ticks: []float64{1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6},
		label: func(v float64) string {
			if v >= 1e6 {
				return fmt.Sprintf("%gM", v/1e6)
			}
			return fmt.Sprintf("%gk", v/1e3)
		},
		title: "connections (log scale)"}
}

func memoryPlot(series []curveSeries) string {
	var lines []line
	top := 1000.0
	colors := []string{"#1f77b4", "#d62728"}
	for i, s := range series {
		l := line{name: s.name + ": server RSS", color: colors[i%2]}
		h := line{name: s.name + ": Go heap", color: colors[i%2], dash: true}
		for _, p := range s.points {
			if p.rssPerConn > 0 {
				l.xs, l.ys = append(l.xs, float64(p.conns)), append(l.ys, p.rssPerConn)
				top = max(top, p.rssPerConn)
			}
			if p.heapPerConn > 0 {
				h.xs, h.ys = append(h.xs, float64(p.conns)), append(h.ys, p.heapPerConn)
			}
		}
		lines = append(lines, l, h)
	}
	hi := math.Ceil(top*1.15/1000) * 1000
	var ticks []float64
	for v := 0.0; v <= hi; v += 1000 {
		ticks = append(ticks, v)
	}
	y := axis{lo: 0, hi: hi, ticks: ticks, label: func(v float64) string { return fmt.Sprintf("%g", v) }, title: "bytes per connection (after GC)"}
	return svgPlot("Memory per connection against connections", connsAxis(), y, lines)
}

func latencyPlot(series []curveSeries) string {
	var lines []line
	lo, hi := 1e9, 1.0
	colors := []string{"#1f77b4", "#d62728"}
	for i, s := range series {
		for _, q := range []struct {
			name string
			dash bool
			get  func(curvePoint) float64
		}{
			{"p50", true, func(p curvePoint) float64 { return p.p50 }},
			{"last receiver", false, func(p curvePoint) float64 { return p.last }},
		} {
			l := line{name: s.name + ": " + q.name, color: colors[i%2], dash: q.dash}
			for _, p := range s.points {
				if v := q.get(p); v > 0 {
					l.xs, l.ys = append(l.xs, float64(p.conns)), append(l.ys, v)
					lo, hi = min(lo, v), max(hi, v)
				}
			}
			lines = append(lines, l)
		}
	}
	lo = math.Pow(10, math.Floor(math.Log10(max(lo, 0.1))))
	hi = math.Pow(10, math.Ceil(math.Log10(hi)))
	var ticks []float64
	for v := lo; v <= hi*1.001; v *= 10 {
		ticks = append(ticks, v)
	}
	y := axis{lo: lo, hi: hi, log: true, ticks: ticks, label: func(v float64) string {
		if v >= 1000 {
			return fmt.Sprintf("%g s", v/1000)
		}
		return fmt.Sprintf("%g ms", v)
	}, title: "broadcast latency (log scale)"}
	return svgPlot("Broadcast to every connection: p50 and last receiver", connsAxis(), y, lines)
}

func svgPlot(title string, x, y axis, lines []line) string {
	var b strings.Builder
	x0, x1 := float64(marginL), float64(plotW-marginR)
	y0, y1 := float64(plotH-marginB), float64(marginT)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", plotW, plotH, plotW, plotH)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%g" y="22" text-anchor="middle" font-size="15">%s</text>`+"\n", (x0+x1)/2, esc(title))
	for _, t := range x.ticks {
		px := x.pos(t, x0, x1)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", px, y0, px, y1)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px, y0+16, esc(x.label(t)))
	}
	for _, t := range y.ticks {
		py := y.pos(t, y0, y1)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x0, py, x1, py)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, py+4, esc(y.label(t)))
	}
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", x0, y1, x1-x0, y0-y1)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", (x0+x1)/2, plotH-22, esc(x.title))
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", (y0+y1)/2, esc(y.title))
	for i, l := range lines {
		if len(l.xs) == 0 {
			continue
		}
		dash := ""
		if l.dash {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts []string
		for j := range l.xs {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x.pos(l.xs[j], x0, x1), y.pos(l.ys[j], y0, y1)))
		}
		fmt.Fprintf(&b, `<polyline class="series" data-name="%s" fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", esc(l.name), l.color, dash, strings.Join(pts, " "))
		for _, p := range pts {
			xy := strings.Split(p, ",")
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", xy[0], xy[1], l.color)
		}
		ly := float64(marginT) + 14 + float64(i)*16
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", x0+10, ly-4, x0+34, ly-4, l.color, dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", x0+40, ly, esc(l.name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func esc(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}
