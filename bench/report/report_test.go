package main

import (
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// results is a synthetic run in the harness's format: broadcast at three
// sizes for three targets (one with a histogram, one with percentiles only),
// an echo row, idle rows, and rows the report must leave out.
const results = `
{"scenario":"broadcast","target":"actorhub","protocol":"json","payload":100,"conns":1000,"deliveries_per_sec":900000,"lat_p50_ms":1.2,"lat_p99_ms":4,"lat_max_ms":9,"lat_hist":{"lower_us":[500,1024,1152,4096,8192],"counts":[10,500,300,180,10]},"valid":true}
{"scenario":"broadcast","target":"actorhub","protocol":"json","payload":100,"conns":5000,"deliveries_per_sec":1100000,"valid":true}
{"scenario":"broadcast","target":"actorhub","protocol":"json","payload":100,"conns":5000,"deliveries_per_sec":1300000,"valid":true}
{"scenario":"broadcast","target":"raw","protocol":"json","payload":100,"conns":1000,"deliveries_per_sec":2000000,"lat_p50_ms":0.4,"lat_p99_ms":1.5,"lat_max_ms":3,"valid":true}
{"scenario":"broadcast","target":"raw","protocol":"json","payload":100,"conns":5000,"deliveries_per_sec":2500000,"valid":true}
{"scenario":"broadcast","target":"philippseith","protocol":"json","payload":100,"conns":1000,"deliveries_per_sec":150000,"lat_p50_ms":20,"lat_p99_ms":80,"lat_max_ms":200,"valid":true}
{"scenario":"broadcast","target":"philippseith","protocol":"json","payload":100,"conns":5000,"valid":false,"invalid_reason":"lost 12 deliveries","deliveries_per_sec":1}
{"scenario":"group","target":"actorhub","protocol":"messagepack","payload":2048,"conns":2000,"group_size":100,"deliveries_per_sec":400000,"valid":true}
{"scenario":"echo","target":"raw","protocol":"json","payload":100,"conns":100,"echo_per_sec":90000,"rtt_p50_ms":0.3,"rtt_p99_ms":0.9,"rtt_hist":{"lower_us":[3,100,200],"counts":[1,5,4]},"valid":true}
{"scenario":"idle","target":"actorhub","protocol":"json","payload":0,"conns":1000,"rss_per_conn_b":3000,"valid":true}
{"scenario":"idle","target":"actorhub","protocol":"json","payload":0,"conns":19000,"rss_per_conn_b":2600,"heap_per_conn_b":1400,"kernel_per_conn_b":900,"valid":true}
{"scenario":"idle","target":"raw","protocol":"json","payload":0,"conns":19000,"rss_per_conn_b":1200,"heap_per_conn_b":400,"valid":true}
{"scenario":"idle","target":"philippseith","protocol":"json","payload":0,"conns":19000,"rss_per_conn_b":21000,"valid":true}
{"scenario":"idle","target":"philippseith","protocol":"messagepack","unsupported":true}

{"scenario":"connect","target":"raw","protocol":"json","payload":0,"conns":1000,"connects_per_sec":5000,"valid":true}
`

func TestReport(t *testing.T) {
	rows, err := readRows(strings.NewReader(results))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 13 {
		t.Fatalf("%d rows, want 13 (the invalid and unsupported ones left out)", len(rows))
	}
	dir := t.TempDir()
	files, err := writePlots(rows, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"throughput-broadcast-json-100B.svg",
		"throughput-group-messagepack-2048B-g100.svg",
		"throughput-echo-json-100B.svg",
		"latency-broadcast-json-100B-1000.svg",
		"latency-echo-json-100B-100.svg",
		"memory-idle-json.svg",
		"index.md",
	}
	slices.Sort(want)
	got := slices.Clone(files)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	for _, f := range files {
		if !strings.HasSuffix(f, ".svg") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		checkXML(t, f, b)
	}
	read := func(f string) string {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		return string(b)
	}
	tp := read("throughput-broadcast-json-100B.svg")
	for _, s := range []string{">actorhub<", ">raw<", ">philippseith<", ">connections<", ">deliveries/s<", ">2.5M<"} {
		if !strings.Contains(tp, s) {
			t.Errorf("throughput plot lacks %q", s)
		}
	}
	// Two lines with two points and one with one (philippseith's 5000 was invalid).
	if n := strings.Count(tp, "<circle"); n != 5 {
		t.Errorf("%d points, want 5", n)
	}
	if mem := read("memory-idle-json.svg"); !strings.Contains(mem, ">19000 connections") && !strings.Contains(mem, "19000 connections<") {
		t.Errorf("memory plot does not say which rows it used")
	}
	if idx := read("index.md"); !strings.Contains(idx, "(memory-idle-json.svg)") {
		t.Errorf("index.md:\n%s", idx)
	}
}

// checkXML parses b as XML with an <svg> root.
func checkXML(t *testing.T, name string, b []byte) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(b)))
	root := ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Fatalf("%s: root element %q", name, root)
	}
}

func TestHistCDF(t *testing.T) {
	h := map[string]any{"lower_us": []any{3.0, 16.0, 1024.0}, "counts": []any{1.0, 1.0, 2.0}}
	pts := histCDF(h)
	want := []point{{0.003, 0}, {0.004, 0.25}, {0.018, 0.5}, {1.152, 1}}
	if len(pts) != len(want) {
		t.Fatalf("%v", pts)
	}
	for i := range want {
		if d := pts[i].x - want[i].x; d > 1e-9 || d < -1e-9 || pts[i].y != want[i].y {
			t.Fatalf("point %d: %v, want %v", i, pts[i], want[i])
		}
	}
}

func TestReadRowsError(t *testing.T) {
	if _, err := readRows(strings.NewReader("{\"target\":\"x\"}\nnot json\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err %v, want one naming line 2", err)
	}
}

// TestHarnessOutput reads what cmd/bench wrote in a short run against the
// three targets (broadcast and idle at 1,000 connections, group and echo at
// 2,000, JSON and MessagePack).
func TestHarnessOutput(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "harness.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := readRows(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := writePlots(rows, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 15 {
		t.Fatalf("%d files: %v", len(files), files)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".svg") {
			checkXML(t, f, b)
			for _, target := range []string{"actorhub", "philippseith", "raw"} {
				if !strings.Contains(string(b), ">"+target+"<") {
					t.Errorf("%s: no %s", f, target)
				}
			}
		}
	}
}
