package main

import (
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
)

// The history keeps the last historyLen samples, oldest first.
func TestDashboardHistoryBounded(t *testing.T) {
	d := newDashboard(nil, "n", "")
	for i := range historyLen + 25 {
		d.record(sample{T: int64(i)})
	}
	h := d.snapshot().History
	if len(h) != historyLen || h[0].T != 25 || h[len(h)-1].T != historyLen+24 {
		t.Fatalf("history: %d samples, from %d to %d", len(h), h[0].T, h[len(h)-1].T)
	}
	for i := 1; i < len(h); i++ {
		if h[i].T != h[i-1].T+1 {
			t.Fatalf("out of order at %d: %d after %d", i, h[i].T, h[i-1].T)
		}
	}
}

// A sample adds the hubs' counts and turns their counters into rates.
func TestDashboardSample(t *testing.T) {
	d := newDashboard(&readiness{}, "", "")
	for _, name := range []string{"a", "b"} {
		h, err := hub.New(chat{}, hub.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Shutdown(t.Context()) })
		d.add(name, h)
	}
	d.prev = totals{at: time.Now().Add(-2 * time.Second)}
	s := d.sample(false)
	if len(s.Hubs) != 2 || s.Hubs[0].Name != "a" || s.Connections != 0 || !s.Ready || s.RSSBytes == 0 || s.HeapBytes == 0 || s.Goroutines == 0 {
		t.Fatalf("sample: %+v", s)
	}
	if s.HeapPerConn != 0 || s.RSSPerConn != 0 {
		t.Fatalf("per connection without connections: %+v", s)
	}
	if _, ok := s.Closes["slow_consumer"]; !ok {
		t.Fatalf("closes by reason: %v", s.Closes)
	}
	if d.node == "" {
		t.Fatal("no node name")
	}
	d.ready.draining.Store(true)
	if s := d.sample(false); s.Ready || s.NotReadyBecause != "draining" {
		t.Fatalf("draining: %+v", s)
	}
}
