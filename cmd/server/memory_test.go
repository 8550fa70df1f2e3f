package main

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"off", 0}, {"1048576", 1 << 20}, {"2GiB", 2 << 30}, {"512mib", 512 << 20},
		{"1.5GiB", 3 << 29}, {"64KiB", 64 << 10}, {"1GB", 1e9}, {"10 MB", 10e6}, {"100B", 100}, {"1TiB", 1 << 40},
	} {
		got, err := parseSize(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "GiB", "-1GiB", "2XB", "lots", "1e30TiB"} {
		if n, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", bad, n)
		}
	}
}

// -memory-limit (or ACTORHUB_MEMORY_LIMIT) becomes the runtime's soft
// memory limit; off leaves the runtime's own.
func TestMemoryLimitFlagSetsTheLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })

	o, err := parseFlags([]string{"-memory-limit", "3GiB"})
	if err != nil {
		t.Fatal(err)
	}
	if got := o.applyMemoryLimit(); got != 3<<30 {
		t.Fatalf("limit in effect %d, want %d", got, int64(3<<30))
	}
	if got := debug.SetMemoryLimit(-1); got != 3<<30 {
		t.Fatalf("runtime's limit %d, want %d", got, int64(3<<30))
	}

	t.Setenv("ACTORHUB_MEMORY_LIMIT", "768MiB")
	if o, err = parseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if got := o.applyMemoryLimit(); got != 768<<20 {
		t.Fatalf("from the environment: limit in effect %d, want %d", got, int64(768<<20))
	}

	debug.SetMemoryLimit(prev)
	t.Setenv("ACTORHUB_MEMORY_LIMIT", "")
	if o, err = parseFlags([]string{"-memory-limit", "off"}); err != nil {
		t.Fatal(err)
	}
	if got := o.applyMemoryLimit(); got != prev {
		t.Fatalf("off: limit in effect %d, want the runtime's own %d", got, prev)
	}
	if _, err := parseFlags([]string{"-memory-limit", "plenty"}); err == nil {
		t.Fatal("-memory-limit plenty: no error")
	}
}

// -gc-percent (or ACTORHUB_GC_PERCENT) becomes the runtime's GC percent;
// without either, a GOGC in the environment is left alone; the default
// applies otherwise.
func TestGCPercentFlag(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")

	o, err := parseFlags([]string{"-gc-percent", "30"})
	if err != nil {
		t.Fatal(err)
	}
	if pct, set := o.applyGCPercent(); !set || pct != 30 || debug.SetGCPercent(100) != 30 {
		t.Fatalf("-gc-percent 30: set %v to %d", set, pct)
	}
	if o, err = parseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if pct, set := o.applyGCPercent(); !set || pct != defaultGCPercent || debug.SetGCPercent(100) != defaultGCPercent {
		t.Fatalf("default: set %v to %d, want %d", set, pct, defaultGCPercent)
	}

	t.Setenv("GOGC", "200")
	if o, err = parseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if _, set := o.applyGCPercent(); set {
		t.Fatal("GOGC in the environment and no -gc-percent: the default overrode GOGC")
	}
	t.Setenv("ACTORHUB_GC_PERCENT", "40")
	if o, err = parseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if pct, set := o.applyGCPercent(); !set || pct != 40 {
		t.Fatalf("ACTORHUB_GC_PERCENT=40 beside GOGC: set %v to %d", set, pct)
	}
	if _, err := parseFlags([]string{"-gc-percent", "0"}); err == nil {
		t.Fatal("-gc-percent 0: no error")
	}
}
