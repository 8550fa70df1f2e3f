package actors

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
)

// checkSet fails unless s holds exactly want, every member is found at its
// own position, and the table is at most 3/4 full.
func checkSet(t *testing.T, s *memberSet, want map[*Conn]bool) {
	t.Helper()
	if len(s.members) != len(want) {
		t.Fatalf("%d members, want %d", len(s.members), len(want))
	}
	used := 0
	for _, v := range s.slots {
		if v != 0 {
			used++
		}
	}
	if used != len(s.members) {
		t.Fatalf("%d slots used for %d members", used, len(s.members))
	}
	if len(s.slots)*3 < len(s.members)*4 {
		t.Fatalf("%d slots for %d members: over 3/4 full", len(s.slots), len(s.members))
	}
	for k, c := range s.members {
		if !want[c] {
			t.Fatalf("member %d (seq %d) was not added", k, c.seq)
		}
		i, ok := s.find(c)
		if !ok || int(s.slots[i]) != k+1 {
			t.Fatalf("member %d (seq %d): found %v at slot %d holding %d", k, c.seq, ok, i, s.slots[i])
		}
	}
}

// Adds and removes in random order, members added twice and removed twice
// or never added, a set grown past shrinkMin and emptied (rebuilt smaller
// on the way): the set always holds what was added and not removed, and
// its index finds each at its place.
func TestMemberSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	conns := make([]*Conn, 5000)
	for i := range conns {
		// seq as the shards see it: one remainder modulo their count.
		conns[i] = &Conn{seq: uint64(i*8 + 3)}
	}
	var s memberSet
	want := map[*Conn]bool{}
	for round := range 3 {
		for op := range 20000 {
			if op%997 == 0 {
				checkSet(t, &s, want)
			}
			c := conns[rng.IntN(len(conns))]
			if rng.IntN(3) > 0 {
				s.add(c)
				want[c] = true
			} else {
				s.remove(c)
				delete(want, c)
			}
		}
		checkSet(t, &s, want)
		grown := len(s.slots)
		for _, c := range conns {
			s.remove(c)
			delete(want, c)
		}
		checkSet(t, &s, want)
		if len(s.slots) >= grown {
			t.Fatalf("round %d: emptied, the table still has %d slots (had %d)", round, len(s.slots), grown)
		}
	}
	var empty memberSet
	empty.remove(conns[0]) // no table yet: nothing happens
	checkSet(t, &empty, map[*Conn]bool{})
}

// BenchmarkMemberSetMemory reports the heap a set holds per member, at the
// sizes of the idle benchmark's sets: a group of 100, and the share of
// 19,000 connections one of 8 shards of all connections holds. Run it with
// -benchtime=1x.
func BenchmarkMemberSetMemory(b *testing.B) {
	for _, n := range []int{100, 2375} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			const sets = 200
			conns := make([]*Conn, n)
			for i := range conns {
				conns[i] = &Conn{seq: uint64(i*8 + 3)}
			}
			all := make([]memberSet, sets)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for k := range all {
				for _, c := range conns {
					all[k].add(c)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(sets*float64(n)), "bytes/member")
			runtime.KeepAlive(all)
		})
	}
}
