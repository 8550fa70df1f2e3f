package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bench plot draws a series per kind of run, a point per connection
// count, from the fleet broadcasts of the files it is given.
func TestPlot(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "r.jsonl")
	lines := []string{
		`{"scenario":"fleet","phase":"broadcast","nodes":1,"conns":1000,"rss_per_conn_b":4000,"heap_per_conn_b":2000,"lat_p50_ms":10,"lat_p99_ms":20,"lat_max_ms":25,"valid":true}`,
		`{"scenario":"fleet","phase":"broadcast","nodes":1,"conns":19000,"rss_per_conn_b":5000,"heap_per_conn_b":2100,"lat_p50_ms":200,"lat_p99_ms":400,"lat_max_ms":500,"valid":true}`,
		`{"scenario":"fleet","phase":"broadcast","nodes":3,"conns":50000,"rss_per_conn_b":6000,"lat_p50_ms":400,"lat_p99_ms":800,"lat_max_ms":900,"valid":true}`,
		`{"scenario":"fleet","phase":"broadcast","nodes":3,"conns":50000,"lat_p50_ms":99999,"lat_max_ms":99999,"valid":false}`,
		`{"scenario":"fleet","phase":"broadcast","nodes":3,"conns":100000,"lat_p50_ms":900,"lat_p99_ms":1800,"lat_max_ms":2000,"valid":true}`,
		`{"scenario":"fleet","phase":"summary","nodes":3,"conns":100000,"rss_per_conn_b":5500,"valid":false}`,
		`{"scenario":"broadcast","conns":5000,"lat_p50_ms":1,"valid":true}`,
	}
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := runPlot([]string{"-out", dir, in}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for name, want := range map[string][]string{
		"cost-memory.svg":  {"one node: server RSS", "fleet", "Go heap"},
		"cost-latency.svg": {"one node: p50", "one node: last receiver", "last receiver"},
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		svg := string(b)
		if !strings.HasPrefix(svg, "<svg") || !strings.HasSuffix(svg, "</svg>\n") {
			t.Fatalf("%s is not an SVG document", name)
		}
		for _, w := range want {
			if !strings.Contains(svg, w) {
				t.Errorf("%s: no %q", name, w)
			}
		}
	}
	lat, _ := os.ReadFile(filepath.Join(dir, "cost-latency.svg"))
	// Two series × (p50, last receiver), two points each: the invalid
	// broadcast and the other scenario are left out.
	if n := strings.Count(string(lat), "<circle"); n != 8 {
		t.Errorf("%d points in the latency plot, want 8", n)
	}
	// The memory at 100k comes from the summary (its loss does not undo
	// what it measured).
	if !strings.Contains(out.String(), "100000 conns: RSS   5500") {
		t.Errorf("the summary's memory is not the 100k point:\n%s", out.String())
	}
	if code := runPlot([]string{"-out", dir}, &out, &errb); code != 2 {
		t.Errorf("no file: exit %d, want 2", code)
	}
}
