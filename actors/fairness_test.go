package actors

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// While bulk turns hold every worker of Min, a turn of the front lane (a
// connection whose client sends now and then) gets a worker of its own at
// once, and the bulk lane waits for a bulk turn to end, then goes on.
func TestPoolFrontTurnNotBehindBulk(t *testing.T) {
	p := newWorkerPool(poolConfig{Min: 1, Max: 3, StallCheck: time.Hour})
	defer p.Close()
	release := make(chan struct{})
	started := make(chan struct{})
	var mu sync.Mutex
	var order []string
	note := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	wg.Add(3)
	p.ScheduleBulk(func() { defer wg.Done(); close(started); <-release; note("b0") })
	<-started
	p.ScheduleBulk(func() { defer wg.Done(); note("b1") })
	front := make(chan struct{})
	p.Schedule(func() { defer wg.Done(); note("front"); close(front) })
	select {
	case <-front:
	case <-time.After(10 * time.Second):
		t.Fatal("the front turn did not run while a bulk turn held the worker of Min")
	}
	mu.Lock()
	if len(order) != 1 {
		t.Fatalf("ran %v while b0 held the bulk lane's one place, want only the front turn", order)
	}
	mu.Unlock()
	close(release)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"front", "b0", "b1"}; len(order) != 3 || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
		t.Fatalf("order %v, want %v", order, want)
	}
}

// laneRecorder is a dispatcher that records the lane of each scheduled
// turn and runs it only when told.
type laneRecorder struct {
	lanes []string
	turns []func()
}

func (d *laneRecorder) Schedule(fn func()) {
	d.lanes = append(d.lanes, "front")
	d.turns = append(d.turns, fn)
}
func (d *laneRecorder) ScheduleBulk(fn func()) {
	d.lanes = append(d.lanes, "bulk")
	d.turns = append(d.turns, fn)
}
func (d *laneRecorder) Throughput() int { return 256 }

func (d *laneRecorder) runNext() {
	fn := d.turns[0]
	d.turns = d.turns[1:]
	fn()
}

// spender is an actor whose messages are counts of client messages it
// runs (spends from its quantum).
type spender struct{ m *batchingMailbox }

func (s spender) InvokeUserMessage(msg any) {
	if n, ok := msg.(int); ok {
		s.m.spend(n)
	}
}
func (spender) InvokeSystemMessage(any)  {}
func (spender) EscalateFailure(any, any) {}

// A connection's actor whose turn spent its quantum is heavy: its next
// turn goes to the bulk lane even when its mailbox was empty when the
// message came, until a turn that runs fewer than lightTurn client
// messages makes it light again.
func TestMailboxHeavyUntilLightTurn(t *testing.T) {
	d := &laneRecorder{}
	m := &batchingMailbox{}
	m.runFn = m.run
	m.RegisterHandlers(spender{m}, d)

	m.PostUserMessage(turnQuantum) // a flood's worth: the quantum is spent
	d.runNext()
	m.PostUserMessage(1) // the mailbox was empty, the actor is heavy
	d.runNext()
	m.PostUserMessage(1) // the last turn was light
	d.runNext()
	want := []string{"front", "bulk", "front"}
	if len(d.lanes) != len(want) {
		t.Fatalf("lanes %v, want %v", d.lanes, want)
	}
	for i := range want {
		if d.lanes[i] != want[i] {
			t.Fatalf("lanes %v, want %v", d.lanes, want)
		}
	}
}

// A lane that never empties keeps an array the size of the turns waiting,
// not of every turn that went through it.
func TestPoolLaneStaysSmall(t *testing.T) {
	p := newWorkerPool(poolConfig{Min: 1, Max: 1, StallCheck: time.Hour})
	defer p.Close()
	release := make(chan struct{})
	started := make(chan struct{})
	p.Schedule(func() { close(started); <-release }) // holds the one worker
	<-started
	// Model the pool's workers by hand: take one turn, queue one, with
	// four waiting all along.
	p.mu.Lock()
	for range 4 {
		p.bulk = append(p.bulk, func() {})
	}
	p.mu.Unlock()
	for range 10000 {
		p.mu.Lock()
		p.takeBulkLocked()
		p.mu.Unlock()
		p.ScheduleBulk(func() {})
	}
	p.mu.Lock()
	n, c := len(p.bulk)-p.bulkHead, cap(p.bulk)
	p.mu.Unlock()
	close(release)
	if n != 4 || c > 64 {
		t.Fatalf("bulk lane: %d waiting in an array of %d, want 4 in at most 64", n, c)
	}
}

// After a bulk turn, while front turns keep coming, the worker parks with
// the bulk lane's place: a front turn queued then runs at once, on another
// worker, and the next bulk turn waits for the park to end.
func TestPoolBulkParksForFrontTurns(t *testing.T) {
	p := newWorkerPool(poolConfig{Min: 1, Max: 3, StallCheck: time.Hour})
	parked, unpark := make(chan struct{}), make(chan struct{})
	var once sync.Once
	p.park = func() { once.Do(func() { close(parked); <-unpark }) }
	defer p.Close()
	var unparked sync.Once
	defer unparked.Do(func() { close(unpark) }) // before Close, on a failure too
	front, b1 := make(chan struct{}), make(chan struct{})
	p.ScheduleBulk(func() {
		p.ScheduleBulk(func() { close(b1) })
		p.Schedule(func() { close(front) }) // the front lane moved during b0
	})
	select {
	case <-parked:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not park after a bulk turn during which a front turn was queued")
	}
	select {
	case <-front:
	case <-time.After(10 * time.Second):
		t.Fatal("the front turn did not run while the bulk worker parked")
	}
	select {
	case <-b1:
		t.Fatal("a bulk turn ran while the parked worker held the bulk lane's place")
	default:
	}
	unparked.Do(func() { close(unpark) })
	select { // the bulk lane goes on (no front turn since b0: no park after b1)
	case <-b1:
	case <-time.After(10 * time.Second):
		t.Fatal("the bulk lane did not go on after the park")
	}
}

// Bulk turns keep moving while the front lane never rests: each bulk turn
// ends in a park of netpoll.BulkPark, not a wait for the front lane to empty.
func TestPoolBulkNotStarvedByFrontTurns(t *testing.T) {
	p := newWorkerPool(poolConfig{Min: 2, StallCheck: time.Hour})
	defer p.Close()
	stop := make(chan struct{})
	var fronts sync.WaitGroup
	var front func()
	front = func() { // a chain of front turns, each queuing the next
		select {
		case <-stop:
			fronts.Done()
		default:
			p.Schedule(front)
		}
	}
	fronts.Add(2)
	p.Schedule(front)
	p.Schedule(front)
	const want = 50
	done := make(chan struct{})
	var n atomic.Int32
	var bulk func()
	bulk = func() { // a chain of bulk turns, as a flooder's actor
		if n.Add(1) == want {
			close(done)
			return
		}
		p.ScheduleBulk(bulk)
	}
	p.ScheduleBulk(bulk)
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Errorf("%d of %d bulk turns ran while the front lane was busy", n.Load(), want)
	}
	close(stop)
	fronts.Wait()
}

// Once Close has begun, a bulk turn ends in a yield, not a park, even with
// front turns queued: the drain is not held back by parks.
func TestPoolBulkDoesNotParkWhileClosing(t *testing.T) {
	p := newWorkerPool(poolConfig{Min: 1, StallCheck: time.Hour})
	var parks atomic.Int32
	p.park = func() { parks.Add(1) }
	closed := make(chan struct{})
	p.ScheduleBulk(func() {
		p.Schedule(func() {}) // the front lane moved during this bulk turn
		go func() { p.Close(); close(closed) }()
		for { // until Close has begun
			p.mu.Lock()
			c := p.closed
			p.mu.Unlock()
			if c {
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	if n := parks.Load(); n != 0 {
		t.Fatalf("%d parks after Close began", n)
	}
}
