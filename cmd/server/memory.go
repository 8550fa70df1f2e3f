package main

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// byteSize is a flag's size in bytes: a plain number of bytes, or a number
// with a unit, IEC (KiB, MiB, GiB, TiB: powers of 1024, as GOMEMLIMIT
// spells them) or SI (KB, MB, GB, TB: powers of 1000), B for bytes; units
// in any letter case. "0" and "off" are 0.
type byteSize int64

var sizeUnits = []struct {
	suffix string
	mult   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"b", 1},
}

func (s *byteSize) String() string {
	if *s == 0 {
		return "off"
	}
	return formatSize(int64(*s))
}

func (s *byteSize) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = byteSize(n)
	return nil
}

// parseSize reads a byteSize.
func parseSize(v string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(v))
	if t == "off" || t == "0" {
		return 0, nil
	}
	mult := 1.0
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%q is not a size (say 512MiB, 2GiB, 1.5GB or a number of bytes)", v)
	}
	b := f * mult
	if b >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", v)
	}
	return int64(b), nil
}

// formatSize writes n in the largest IEC unit that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		name string
		mult int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// applyMemoryLimit gives the Go runtime -memory-limit as its soft memory
// limit (GOMEMLIMIT); off leaves the runtime's own (GOMEMLIMIT from the
// environment, or none). It returns the limit in effect.
func (o *options) applyMemoryLimit() int64 {
	if o.memoryLimit > 0 {
		debug.SetMemoryLimit(int64(o.memoryLimit))
	}
	return debug.SetMemoryLimit(-1)
}

// defaultGCPercent is -gc-percent's default. Go's own is 100: after a GC
// the heap may double before the next, and the process keeps that room. A
// server of many idle connections is mostly live heap, so the room is
// mostly waste: at 19,000 idle WebSocket connections, 50 keeps about a
// third less RSS per connection than 100 (1,617 B against 2,442 B), and a
// broadcast to them cost no more CPU per delivery in the same session
// (BENCHMARKS.md, "Memory per idle connection").
const defaultGCPercent = 50

// applyGCPercent gives the Go runtime -gc-percent, unless neither it nor
// ACTORHUB_GC_PERCENT was given and GOGC is in the environment (which the
// runtime has read already). It returns the percent set, and whether it
// set one.
func (o *options) applyGCPercent() (int, bool) {
	if _, env := os.LookupEnv("GOGC"); env && !o.gcPercentGiven {
		return 0, false
	}
	debug.SetGCPercent(o.gcPercent)
	return o.gcPercent, true
}
