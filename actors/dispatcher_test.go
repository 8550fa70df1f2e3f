package actors

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorhub/actorhub/internal/testutil"
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
	if !testutil.Poll(testutil.Wait, func() bool { return done.Load() == 62 }) {
		t.Fatalf("only %d of 62 free turns ran while two turns blocked", done.Load())
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
	if !testutil.Poll(testutil.Wait, func() bool { return ran.Load() == 31 }) {
		t.Fatalf("only %d of 31 turns ran while one waited in Blocking", ran.Load())
	}
	close(release)
}

// Close runs what is queued and what those turns schedule meanwhile, and
// waits for its workers; a turn scheduled after Close has returned is
// dropped, never run on a goroutine nobody waits for.
func TestPoolClose(t *testing.T) {
	p := newWorkerPool(poolConfig{})
	var ran, chained atomic.Int32
	for range 100 {
		p.Schedule(func() {
			ran.Add(1)
			p.Schedule(func() { chained.Add(1) }) // may come while Close drains
		})
	}
	p.Close()
	if ran.Load() != 100 || chained.Load() != 100 {
		t.Fatalf("%d of 100 turns and %d of the 100 they scheduled ran before Close returned", ran.Load(), chained.Load())
	}
	if p.Workers() != 0 {
		t.Fatalf("%d workers left after Close", p.Workers())
	}
	before := runtime.NumGoroutine()
	var late atomic.Bool
	p.Schedule(func() { late.Store(true) })
	p.ScheduleMany([]func(){func() { late.Store(true) }})
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("scheduling after Close started goroutines: %d, was %d", n, before)
	}
	p.Close() // a second Close returns at once
	if late.Load() || p.Workers() != 0 {
		t.Fatalf("a turn scheduled after Close ran (%v), or a worker started (%d)", late.Load(), p.Workers())
	}
}

// Close waits for a turn that blocks while it drains, and for the turns it
// schedules when it goes on: nothing runs after Close returns.
func TestPoolCloseWaitsForRunningTurns(t *testing.T) {
	p := newWorkerPool(poolConfig{Min: 1})
	release := make(chan struct{})
	started := make(chan struct{})
	var after atomic.Bool
	p.Schedule(func() {
		close(started)
		<-release
		p.Schedule(func() { after.Store(true) })
	})
	<-started
	closed := make(chan struct{})
	go func() {
		p.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while a turn was running")
	case <-time.After(20 * time.Millisecond): // nothing to wait for: Close must not return
	}
	close(release)
	<-closed
	if !after.Load() {
		t.Fatal("the turn scheduled while Close drained did not run")
	}
}

// The bulk lane: turns that come back after their quantum wait behind
// turns of mailboxes that were idle, but get one turn in bulkEvery, and
// each lane keeps its order.
func TestPoolBulkLane(t *testing.T) {
	p := newWorkerPool(poolConfig{Min: 1, Max: 1})
	defer p.Close()
	release := make(chan struct{})
	started := make(chan struct{})
	p.Schedule(func() { close(started); <-release }) // holds the one worker
	<-started
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	turn := func(name string) func() {
		wg.Add(1)
		return func() {
			defer wg.Done()
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
		}
	}
	for i := range 3 {
		p.ScheduleBulk(turn("b" + string(rune('0'+i))))
	}
	for i := range 2 * bulkEvery {
		p.Schedule(turn("f" + string(rune('a'+i))))
	}
	close(release)
	wg.Wait()
	// Front turns first; after every bulkEvery of them one bulk turn;
	// once the front lane is empty, the rest of the bulk lane.
	var want []string
	for i := range 2 * bulkEvery {
		want = append(want, "f"+string(rune('a'+i)))
		if (i+1)%bulkEvery == 0 {
			want = append(want, "b"+string(rune('0'+(i+1)/bulkEvery-1)))
		}
	}
	want = append(want, "b2")
	mu.Lock()
	defer mu.Unlock()
	if len(order) != len(want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
}
