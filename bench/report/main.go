// Command report draws the harness's plots from its results: SVG files
// written by hand, no plotting library.
//
//	go run ./bench/report -in results.jsonl -out docs/bench/
//
// The input is JSON lines, one result object per line, as cmd/bench writes
// them (blank lines are skipped). Unknown fields are ignored and missing
// ones leave a row out of the plots that need them. Rows with
// "valid": false or "unsupported": true are left out. The fields used:
//
//	scenario, target, protocol, payload, conns, group_size   how rows are grouped
//	deliveries_per_sec, echo_per_sec                       throughput against conns
//	lat_hist {lower_us[], counts[]}, lat_p50_ms, lat_p99_ms, lat_max_ms
//	rtt_hist, rtt_p50_ms, rtt_p99_ms, rtt_max_ms           latency distribution
//	rss_per_conn_b, heap_per_conn_b, kernel_per_conn_b    memory per idle connection
//
// It writes, into -out:
//
//   - throughput-<scenario>-<protocol>-<payload>B[-g<group_size>].svg:
//     deliveries/s (echo/s for the echo scenario) against connections, one
//     line per target (repeated runs averaged);
//   - latency-<scenario>-<protocol>-<payload>B[-g<size>]-<conns>.svg: the
//     latency CDF of each target, from the histogram (bucket upper edges)
//     or, without one, through p50, p99 and max;
//   - memory-idle-<protocol>.svg: bytes per idle connection by target
//     (RSS, and Go heap and kernel where present), from the idle rows with
//     the most connections;
//   - index.md: the list of plots, as markdown image links.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	in := flag.String("in", "-", "results, JSON lines (- for stdin)")
	out := flag.String("out", ".", "directory for the plots")
	flag.Parse()
	r := io.Reader(os.Stdin)
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			fatal(err)
		}
		defer f.Close()
		r = f
	}
	rows, err := readRows(r)
	if err != nil {
		fatal(err)
	}
	files, err := writePlots(rows, *out)
	if err != nil {
		fatal(err)
	}
	for _, f := range files {
		fmt.Println(filepath.Join(*out, f))
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "report:", err)
	os.Exit(1)
}

// row is one result, as decoded: tolerant accessors over a JSON object.
type row map[string]any

func (r row) str(k string) string {
	switch v := r[k].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// num is a number field; ok is false when absent or not a number.
func (r row) num(k string) (float64, bool) {
	switch v := r[k].(type) {
	case float64:
		return v, true
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	return 0, false
}

// pos is a number field that is present and above zero.
func (r row) pos(k string) (float64, bool) {
	v, ok := r.num(k)
	return v, ok && v > 0
}

func (r row) skip() bool {
	valid, hasValid := r["valid"].(bool)
	unsupported, _ := r["unsupported"].(bool)
	return (hasValid && !valid) || unsupported || r.str("target") == ""
}

// readRows decodes JSON lines; a line that is not a JSON object is an error.
func readRows(r io.Reader) ([]row, error) {
	var rows []row
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if rw := row(m); !rw.skip() {
			rows = append(rows, rw)
		}
	}
	return rows, sc.Err()
}

// group is the rows of one plot, with the plot's file-name stem and title.
type group struct {
	stem, title string
	rows        []row
}

// groupBy splits rows by key (rows with key "" are dropped), in first-seen order.
func groupBy(rows []row, key func(row) (stem, title string)) []*group {
	var out []*group
	byStem := map[string]*group{}
	for _, r := range rows {
		stem, title := key(r)
		if stem == "" {
			continue
		}
		g := byStem[stem]
		if g == nil {
			g = &group{stem: stem, title: title}
			byStem[stem] = g
			out = append(out, g)
		}
		g.rows = append(g.rows, r)
	}
	return out
}

// setting names a row's scenario settings: protocol, payload, group size.
func setting(r row) (stem, title string) {
	stem = fmt.Sprintf("%s-%s-%sB", r.str("scenario"), r.str("protocol"), r.str("payload"))
	title = fmt.Sprintf("%s, %s, %s B", r.str("scenario"), r.str("protocol"), r.str("payload"))
	if gs, ok := r.pos("group_size"); ok {
		stem += fmt.Sprintf("-g%.0f", gs)
		title += fmt.Sprintf(", groups of %.0f", gs)
	}
	return stem, title
}

// targets lists the targets of rows in first-seen order.
func targets(rows []row) []string {
	var out []string
	for _, r := range rows {
		if t := r.str("target"); !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// writePlots draws every plot the rows allow into dir and returns the file names.
func writePlots(rows []row, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	type plot struct{ name, title, svg string }
	var plots []plot
	add := func(stem, title, svg string) {
		plots = append(plots, plot{unsafeName.ReplaceAllString(stem, "_") + ".svg", title, svg})
	}

	// Throughput against connections.
	for _, m := range []struct{ key, label string }{
		{"deliveries_per_sec", "deliveries/s"},
		{"echo_per_sec", "echo invocations/s"},
	} {
		groups := groupBy(rows, func(r row) (string, string) {
			if _, ok := r.pos(m.key); !ok {
				return "", ""
			}
			if _, ok := r.pos("conns"); !ok {
				return "", ""
			}
			return setting(r)
		})
		for _, g := range groups {
			c := lineChart{
				title: m.label + " against connections: " + g.title, xLabel: "connections", yLabel: m.label,
				xFmt: fmtCount, yFmt: fmtCount,
			}
			for _, t := range targets(g.rows) {
				c.series = append(c.series, series{name: t, points: meanByConns(g.rows, t, m.key)})
			}
			add("throughput-"+g.stem, c.title, c.render())
		}
	}

	// Latency distributions, one plot per setting and connection count.
	groups := groupBy(rows, func(r row) (string, string) {
		if _, _, ok := latency(r); !ok {
			return "", ""
		}
		stem, title := setting(r)
		return fmt.Sprintf("%s-%s", stem, r.str("conns")), fmt.Sprintf("%s, %s connections", title, r.str("conns"))
	})
	for _, g := range groups {
		c := lineChart{
			title: "latency CDF: " + g.title, xLog: true, yFixed: &[2]float64{0, 1},
			xFmt: fmtMs, yFmt: fmtFraction, yLabel: "fraction at or below",
		}
		for _, t := range targets(g.rows) {
			for _, r := range g.rows {
				if r.str("target") == t {
					pts, what, _ := latency(r)
					c.xLabel = what + " (ms, log scale)"
					c.series = append(c.series, series{name: t, points: pts})
					break // the first run of a target
				}
			}
		}
		add("latency-"+g.stem, c.title, c.render())
	}

	// Memory per idle connection.
	idle := groupBy(rows, func(r row) (string, string) {
		if r.str("scenario") != "idle" {
			return "", ""
		}
		if _, ok := r.pos("rss_per_conn_b"); !ok {
			return "", ""
		}
		return "memory-idle-" + r.str("protocol"), r.str("protocol")
	})
	for _, g := range idle {
		c := barChart{title: "bytes per idle connection (" + g.title + ")", yLabel: "bytes per connection", yFmt: fmtBytes}
		c.categories = targets(g.rows)
		for _, m := range []struct{ key, name string }{
			{"rss_per_conn_b", "RSS"}, {"heap_per_conn_b", "Go heap"}, {"kernel_per_conn_b", "kernel"},
		} {
			vals := make([]float64, len(c.categories))
			have := false
			for i, t := range c.categories {
				vals[i] = math.NaN()
				if r := mostConns(g.rows, t); r != nil {
					if v, ok := r.pos(m.key); ok {
						vals[i], have = v, true
					}
				}
			}
			if have {
				c.seriesNames = append(c.seriesNames, m.name)
				c.values = append(c.values, vals)
			}
		}
		if r := mostConns(g.rows, c.categories[0]); r != nil {
			c.title += fmt.Sprintf(", %s connections", r.str("conns"))
		}
		add(g.stem, c.title, c.render())
	}

	var index strings.Builder
	index.WriteString("# Benchmark plots\n\n")
	var names []string
	for _, p := range plots {
		if err := os.WriteFile(filepath.Join(dir, p.name), []byte(p.svg), 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintf(&index, "![%s](%s)\n\n", p.title, p.name)
		names = append(names, p.name)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.md"), []byte(index.String()), 0o644); err != nil {
		return nil, err
	}
	return append(names, "index.md"), nil
}

// meanByConns is key against conns for target t, runs at the same conns averaged.
func meanByConns(rows []row, t, key string) []point {
	sum, n := map[float64]float64{}, map[float64]int{}
	for _, r := range rows {
		if r.str("target") != t {
			continue
		}
		x, _ := r.num("conns")
		y, _ := r.num(key)
		sum[x] += y
		n[x]++
	}
	var pts []point
	for x, s := range sum {
		pts = append(pts, point{x, s / float64(n[x])})
	}
	slices.SortFunc(pts, func(a, b point) int { return cmpFloat(a.x, b.x) })
	return pts
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// mostConns is the row of target t with the most connections.
func mostConns(rows []row, t string) row {
	var best row
	bestN := -1.0
	for _, r := range rows {
		if n, _ := r.num("conns"); r.str("target") == t && n > bestN {
			best, bestN = r, n
		}
	}
	return best
}

// latency is a row's latency CDF in milliseconds: broadcast delivery
// latency (lat_*), else echo round trips (rtt_*), from the histogram if
// there is one, else through p50, p99 and max.
func latency(r row) (pts []point, what string, ok bool) {
	for _, k := range []struct{ prefix, what string }{{"lat", "delivery latency"}, {"rtt", "round-trip time"}} {
		if pts := histCDF(r[k.prefix+"_hist"]); len(pts) > 0 {
			if mx, ok := r.pos(k.prefix + "_max_ms"); ok && mx < pts[len(pts)-1].x {
				pts[len(pts)-1].x = math.Max(mx, pts[len(pts)-2].x)
			}
			return pts, k.what, true
		}
		p50, ok50 := r.pos(k.prefix + "_p50_ms")
		p99, ok99 := r.pos(k.prefix + "_p99_ms")
		mx, okMax := r.pos(k.prefix + "_max_ms")
		if ok50 && ok99 {
			pts := []point{{p50, 0.5}, {p99, 0.99}}
			if okMax && mx >= p99 {
				pts = append(pts, point{mx, 1})
			}
			return pts, k.what, true
		}
	}
	return nil, "", false
}

// histCDF turns {lower_us: [...], counts: [...]} (the non-empty buckets of
// the harness's histogram: one per microsecond below 16 µs, then eight per
// power of two) into CDF points at each bucket's upper edge, in ms.
func histCDF(v any) []point {
	h, _ := v.(map[string]any)
	lower, _ := h["lower_us"].([]any)
	counts, _ := h["counts"].([]any)
	if len(lower) == 0 || len(lower) != len(counts) {
		return nil
	}
	total := 0.0
	for _, c := range counts {
		f, _ := c.(float64)
		total += f
	}
	if total == 0 {
		return nil
	}
	first, _ := lower[0].(float64)
	pts := []point{{math.Max(first, 1) / 1000, 0}}
	seen := 0.0
	for i := range lower {
		lo, _ := lower[i].(float64)
		c, _ := counts[i].(float64)
		seen += c
		pts = append(pts, point{float64(bucketUpperUS(uint64(lo))) / 1000, seen / total})
	}
	return pts
}

// bucketUpperUS is where the harness's histogram bucket starting at lower ends.
func bucketUpperUS(lower uint64) uint64 {
	if lower < 16 {
		return lower + 1
	}
	e := bits.Len64(lower) - 1
	return lower + 1<<(e-3)
}
