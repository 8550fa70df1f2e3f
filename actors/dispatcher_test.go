package actors

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Turns queued behind turns that block (without saying so) still run soon:
// the ones a blocked worker took are stolen, and the monitor adds workers.
func TestPoolBlockedTurnsDoNotHoldOthers(t *testing.T) {
	p := newWorkerPool(poolConfig{Min: 2})
	defer p.Close()
	release := make(chan struct{})
	var done atomic.Int32
	var wg sync.WaitGroup
	fns := make([]func(), 64)
	for i := range fns {
		wg.Add(1)
		fns[i] = func() {
			defer wg.Done()
			if i < 2 {
				<-release // both minimum workers get stuck
				return
			}
			done.Add(1)
		}
	}
	start := time.Now()
	p.ScheduleMany(fns)
	deadline := time.Now().Add(5 * time.Second)
	for done.Load() < 62 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 62 free turns ran while two turns blocked", done.Load())
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("62 turns ran in %v beside two blocked ones; workers now %d", time.Since(start), p.Workers())
	close(release)
	wg.Wait()
}

// A turn that announces its wait with Blocking hands its worker's other
// taken turns over at once.
func TestPoolBlockingHandsOff(t *testing.T) {
	p := newWorkerPool(poolConfig{Min: 1, StallCheck: time.Hour}) // no monitor rescue
	defer p.Close()
	release := make(chan struct{})
	var ran atomic.Int32
	fns := make([]func(), 32)
	for i := range fns {
		fns[i] = func() {
			if i == 0 {
				p.Blocking(func() { <-release })
				return
			}
			ran.Add(1)
		}
	}
	p.ScheduleMany(fns)
	deadline := time.Now().Add(5 * time.Second)
	for ran.Load() < 31 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 31 turns ran while one waited in Blocking", ran.Load())
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
}

// Close waits for the workers; work scheduled later still runs.
func TestPoolClose(t *testing.T) {
	p := newWorkerPool(poolConfig{})
	var ran atomic.Int32
	for range 100 {
		p.Schedule(func() { ran.Add(1) })
	}
	p.Close()
	if ran.Load() != 100 {
		t.Fatalf("%d of 100 turns ran before Close returned", ran.Load())
	}
	done := make(chan struct{})
	p.Schedule(func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("work scheduled after Close never ran")
	}
	if p.Workers() != 0 {
		t.Fatalf("%d workers left after Close", p.Workers())
	}
}
