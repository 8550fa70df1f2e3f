package actors

import (
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorhub/actorhub/netpoll"
)

// workerPool is a protoactor Dispatcher that runs mailboxes on a pool of reused
// goroutines instead of starting one per scheduled mailbox.
//
// Min workers take turns from two shared queues, two lanes. A turn
// scheduled for a mailbox that was idle (Schedule, ScheduleMany) goes to
// the front lane; a turn that comes back because its connection actor used
// up its quantum of client messages, or of a connection actor that is
// heavy (see batchingMailbox.heavy), goes to the bulk lane (ScheduleBulk),
// which gets one turn in bulkEvery while the front lane is busy: a connection that
// sends now and then is not queued behind every flooding connection's
// backlog, and the flooders still move. At most Min bulk turns run at
// once: while they hold every worker, a front turn gets a worker started
// for it (above Min, gone after IdleTimeout) rather than wait for a bulk
// turn to end. After a bulk turn the worker collects the sockets that are
// ready (AfterBulk) and yields its processor (runtime.Gosched), so that
// on a busy machine the poller's goroutines, which read the sockets, are
// not kept waiting for a whole time slice. If front turns were queued
// since its last bulk turn ended, it parks for netpoll.BulkPark (as
// the poller's workers do after a heavy read pass) instead, keeping
// its bulk place: the Go scheduler has no priorities, and a yielded
// worker waits in the run queues beside the front lane's goroutines (the
// poller's event loop and workers, the worker of a front turn), which
// then wait for a processor behind every flooding connection's turns.
// Parked, it leaves the processors to them. The park is bounded, so bulk
// turns keep moving however busy the front lane; with no front turns (a
// flood alone, one heavy client on a quiet server) nothing parks, nor
// once Close has begun. From a long front queue a worker takes a few turns
// under one lock and keeps the ones it has not started in a small list of
// its own that other workers may steal from, so a turn that
// blocks never holds the others back. A worker waits idle only when there
// is nothing to take or steal.
//
// Hub methods run in their connection's turn and may block. Code that knows
// it will wait calls Blocking, which wakes or adds a worker when work is
// waiting, as the Go runtime hands off a processor around a blocking
// syscall. For code that blocks without saying so, a monitor checks every
// StallCheck whether waiting work went a whole check with no turn started,
// and then adds a worker, up to Max. Workers above Min leave after
// IdleTimeout without work. Schedule never blocks.
//
// Goroutines: the workers and the monitor belong to the pool, and Close
// waits for every one of them. Close drains: turns scheduled while it runs
// (by turns still running, or by the poller cutting sockets) still run, on a
// worker started for them if none is left. Once Close has returned the pool
// is stopped: a turn scheduled then is dropped (and the first one logged),
// never run on a goroutine of its own that nobody would wait for.
type workerPool struct {
	throughput  int
	min, max    int
	idleTimeout time.Duration
	stallCheck  time.Duration

	mu       sync.Mutex
	queue    []func() // guarded by mu: FIFO of turns, from head
	head     int      // guarded by mu
	bulk     []func() // guarded by mu: FIFO of turns that used up their quantum, from bulkHead
	bulkHead int      // guarded by mu
	// sinceBulk counts turns taken from queue since the last one from
	// bulk: every bulkEvery, bulk goes first. Guarded by mu.
	sinceBulk int
	// bulkRunning counts the bulk turns running. At most min of them run
	// at once (plus blocked and bulkSlack, see bulkRoomLocked), so that
	// while they take every worker of Min a turn of the front lane gets
	// a worker of its own (started above Min when none is idle) instead
	// of waiting for a bulk turn to end. Guarded by mu.
	bulkRunning int
	// fronts counts the calls that queued front turns (Schedule,
	// ScheduleMany): a worker that ends a bulk turn parks rather than
	// yields when it moved since that worker's own last bulk turn ended
	// (see netpoll.BulkPark). Guarded by mu.
	fronts uint64
	// parks counts the parks after bulk turns that ended: progress for
	// the monitor, as a turn started is (a parked worker holds a bulk
	// place but is not stuck in hub code). Guarded by mu.
	parks uint64
	// bulkSlack raises the bulk turns' cap by one for each monitor check
	// that found turns waiting and none started (hub code stuck in bulk
	// turns without Blocking); back to 0 once the bulk lane is empty.
	// Guarded by mu.
	bulkSlack int
	idle      []*poolWorker // guarded by mu: parked workers, most recent last
	all       []*poolWorker // guarded by mu: every live worker, to steal from
	workers   int           // guarded by mu
	blocked   int           // guarded by mu: workers waiting inside Blocking
	closed    bool          // guarded by mu: Close has begun; workers leave when out of work
	stopped   bool          // guarded by mu: Close has returned; nothing runs any more
	gone      sync.Cond     // on mu: signalled when the last worker leaves
	// taken counts the turns in workers' pending lists: with none, a
	// worker out of work does not visit every other worker to steal.
	taken atomic.Int64

	afterBulk   func()        // poolConfig.AfterBulk, or nil
	park        func()        // sleeps netpoll.BulkPark; tests may hold it (set before the first turn)
	stop        chan struct{} // closed by Close: the monitor returns
	monitorDone chan struct{} // closed by the monitor as it returns
	log         *slog.Logger
	dropped     atomic.Bool // a turn came after Close: logged once
}

type poolWorker struct {
	pool    *workerPool
	wake    chan struct{} // capacity 1
	started atomic.Uint64 // turns started, for the monitor

	mu      sync.Mutex
	pending []func() // guarded by mu: taken from the queue, not started; stealable
}

// maxTake bounds the turns a worker takes from the queue under one lock.
const maxTake = 8

// bulkEvery: while both lanes have turns waiting, one in this many turns
// comes from the bulk lane, so that bulk turns are delayed but never
// starved.
const bulkEvery = 8

// poolConfig sizes a workerPool. The zero value works.
type poolConfig struct {
	// Min is the number of workers kept alive; 0 means GOMAXPROCS.
	Min int
	// Max bounds the workers; 0 means 10,000.
	Max int
	// Throughput is how many messages a mailbox handles before it yields its
	// worker to the next mailbox; 0 means 256.
	Throughput int
	// IdleTimeout is how long a worker above Min waits for work before it
	// exits; 0 means 10 s.
	IdleTimeout time.Duration
	// StallCheck is how often the monitor looks for stalled work; 0 means 10 ms.
	StallCheck time.Duration
	// Logger hears of turns dropped after Close; nil discards.
	Logger *slog.Logger
	// AfterBulk, when set, runs on a worker after each bulk turn, before
	// it yields its processor or parks: the System collects the sockets
	// that are ready (netpoll.Poller.PollNow), which the Go runtime looks
	// at only every 10 ms or so while every processor is busy.
	AfterBulk func()
}

// newWorkerPool returns a running pool.
func newWorkerPool(cfg poolConfig) *workerPool {
	if cfg.Min <= 0 {
		cfg.Min = runtime.GOMAXPROCS(0)
	}
	if cfg.Max <= 0 {
		cfg.Max = 10000
	}
	cfg.Max = max(cfg.Max, cfg.Min)
	if cfg.Throughput <= 0 {
		cfg.Throughput = 256
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Second
	}
	if cfg.StallCheck <= 0 {
		cfg.StallCheck = 10 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &workerPool{
		throughput: cfg.Throughput, min: cfg.Min, max: cfg.Max,
		idleTimeout: cfg.IdleTimeout, stallCheck: cfg.StallCheck,
		stop: make(chan struct{}), monitorDone: make(chan struct{}), log: cfg.Logger,
		afterBulk: cfg.AfterBulk, park: func() { time.Sleep(netpoll.BulkPark) },
	}
	p.gone.L = &p.mu
	// Owner: the pool. Stops when Close closes p.stop; Close waits on monitorDone.
	go p.monitor()
	return p
}

// Throughput is the number of messages a mailbox handles per turn.
func (p *workerPool) Throughput() int { return p.throughput }

// Schedule queues fn to run on a worker. It never blocks. After Close has
// returned, fn is dropped.
func (p *workerPool) Schedule(fn func()) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		p.drop(1)
		return
	}
	p.queue, p.head = compact(p.queue, p.head)
	p.queue = append(p.queue, fn)
	p.fronts++
	var w *poolWorker
	if n := len(p.idle); n > 0 {
		w = p.popIdleLocked()
	} else if p.needWorkerLocked() || p.allBulkLocked() {
		p.startLocked()
	}
	p.mu.Unlock()
	if w != nil {
		w.wake <- struct{}{}
	}
}

// ScheduleBulk queues fn in the bulk lane: the turn of a connection actor
// that used up its quantum of client messages and has more to do. It never blocks.
// After Close has returned, fn is dropped.
func (p *workerPool) ScheduleBulk(fn func()) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		p.drop(1)
		return
	}
	p.bulk, p.bulkHead = compact(p.bulk, p.bulkHead)
	p.bulk = append(p.bulk, fn)
	var w *poolWorker
	if n := len(p.idle); n > 0 && p.bulkRoomLocked() {
		w = p.popIdleLocked()
	} else if p.needWorkerLocked() {
		p.startLocked()
	}
	p.mu.Unlock()
	if w != nil {
		w.wake <- struct{}{}
	}
}

// ScheduleMany queues every fn, waking as many idle workers as it can use,
// under one lock. It never blocks.
func (p *workerPool) ScheduleMany(fns []func()) {
	if len(fns) == 0 {
		return
	}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		p.drop(len(fns))
		return
	}
	p.queue, p.head = compact(p.queue, p.head)
	p.queue = append(p.queue, fns...)
	p.fronts++
	var wake [maxTake]*poolWorker
	n := min(len(fns), len(p.idle), len(wake))
	for i := range n {
		wake[i] = p.popIdleLocked()
	}
	for p.needWorkerLocked() {
		p.startLocked()
	}
	if n == 0 && p.allBulkLocked() {
		p.startLocked()
	}
	p.mu.Unlock()
	for _, w := range wake[:n] {
		w.wake <- struct{}{}
	}
}

// needWorkerLocked reports whether queued turns want a new worker: fewer
// than Min are free. While Close drains, that also starts one when none is
// left.
func (p *workerPool) needWorkerLocked() bool {
	return p.workers-p.blocked < p.min && p.workers < p.max
}

// allBulkLocked reports whether every worker that is not blocked runs a
// bulk turn, and another may start: a turn of the front lane gets one
// rather than wait for a bulk turn to end.
func (p *workerPool) allBulkLocked() bool {
	return p.bulkRunning > 0 && p.workers-p.blocked <= p.bulkRunning && p.workers < p.max
}

// bulkRoomLocked reports whether another bulk turn may start: fewer run
// than Min, plus the workers blocked (a turn in Blocking may be a bulk
// one: blocking never leaves the bulk lane fewer than Min workers) and
// the slack the monitor gave.
func (p *workerPool) bulkRoomLocked() bool {
	return p.bulkRunning < p.min+p.blocked+p.bulkSlack
}

// compact moves the turns of a lane (q[head:]) to the front of its
// array once they are at most half of it, so that a lane that never
// empties (a flood keeps the bulk lane busy) holds the turns waiting and
// not every turn that ever went through it.
func compact(q []func(), head int) ([]func(), int) {
	if head == 0 || head < len(q)/2 {
		return q, head
	}
	n := copy(q, q[head:])
	clear(q[n:])
	return q[:n], 0
}

// drop logs, once, that turns came after Close: whoever sent to an actor
// did so after the runtime stopped.
func (p *workerPool) drop(n int) {
	if p.dropped.CompareAndSwap(false, true) {
		p.log.Warn("actors: turns scheduled after the runtime closed were dropped", "turns", n)
	}
}

func (p *workerPool) popIdleLocked() *poolWorker {
	n := len(p.idle)
	w := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	return w
}

func (p *workerPool) startLocked() {
	p.workers++
	w := &poolWorker{pool: p, wake: make(chan struct{}, 1)}
	w.pending = make([]func(), 0, maxTake)
	p.all = append(p.all, w)
	// Owner: the pool, which counts it in workers (under mu). It returns
	// when the pool closes and it finds no work, or above Min after
	// IdleTimeout; Close waits until workers is 0.
	go p.run(w)
}

// forgetLocked takes w out of the pool as it returns; the last one out
// tells a waiting Close.
func (p *workerPool) forgetLocked(w *poolWorker) {
	p.workers--
	if p.workers == 0 {
		p.gone.Broadcast()
	}
	for i, x := range p.all {
		if x == w {
			p.all[i] = p.all[len(p.all)-1]
			p.all[len(p.all)-1] = nil
			p.all = p.all[:len(p.all)-1]
			break
		}
	}
}

// run is a worker's life: its own taken turns first, then the queue, then
// other workers' taken turns; it parks when there is none, and ends when
// the pool closes or, above Min, after IdleTimeout without work.
func (p *workerPool) run(w *poolWorker) {
	var timer *time.Timer
	var fronts uint64 // p.fronts when this worker's last bulk turn ended
	for {
		if fn := w.popPending(); fn != nil {
			w.started.Add(1)
			fn()
			continue
		}
		p.mu.Lock()
		fn, bulk := p.takeLocked(w)
		for fn == nil {
			if p.closed {
				p.forgetLocked(w)
				p.mu.Unlock()
				return
			}
			p.idle = append(p.idle, w)
			extra := p.workers > p.min
			p.mu.Unlock()
			if !extra {
				<-w.wake
			} else {
				if timer == nil {
					timer = time.NewTimer(p.idleTimeout)
				} else {
					timer.Reset(p.idleTimeout)
				}
				select {
				case <-w.wake:
					timer.Stop()
				case <-timer.C:
					if p.retire(w) {
						return
					}
					<-w.wake // someone took us off the idle list: a wake is on its way
				}
			}
			p.mu.Lock()
			fn, bulk = p.takeLocked(w)
		}
		p.mu.Unlock()
		w.started.Add(1)
		fn()
		if bulk {
			if p.afterBulk != nil {
				p.afterBulk()
			}
			p.mu.Lock()
			busy := p.fronts != fronts && !p.closed
			fronts = p.fronts
			p.mu.Unlock()
			// Front turns came since this worker's last bulk turn: park,
			// keeping the bulk place, so that their hand-offs find a
			// processor free. Otherwise (or once Close has begun: the
			// drain is not held back) yield; a flood alone runs at full
			// speed.
			if busy {
				p.park()
			} else {
				runtime.Gosched()
			}
			p.mu.Lock()
			p.bulkRunning--
			if busy {
				p.parks++
			}
			p.mu.Unlock()
		}
	}
}

// takeLocked returns the next turn for w: from the front queue (keeping a
// share of a long queue in w.pending), from the bulk lane when its turn
// has come and fewer bulk turns run than their cap (bulk is then true;
// the caller counts it out of bulkRunning when it ends), or else stolen
// from another worker.
func (p *workerPool) takeLocked(w *poolWorker) (fn func(), bulk bool) {
	queued := len(p.queue) - p.head
	if p.bulkHead < len(p.bulk) && (queued == 0 || p.sinceBulk >= bulkEvery) && p.bulkRoomLocked() {
		p.sinceBulk = 0
		p.bulkRunning++
		return p.takeBulkLocked(), true
	}
	if queued > 0 {
		// A share of a long queue at once: one lock for several turns.
		n := max(1, min(maxTake, queued/(2*p.workers)))
		fn := p.queue[p.head]
		if n > 1 {
			w.mu.Lock()
			w.pending = append(w.pending, p.queue[p.head+1:p.head+n]...)
			p.taken.Add(int64(n - 1))
			w.mu.Unlock()
		}
		clear(p.queue[p.head : p.head+n])
		p.head += n
		if p.bulkHead < len(p.bulk) {
			p.sinceBulk += n
		}
		if p.head == len(p.queue) {
			p.queue, p.head = p.queue[:0], 0
			if cap(p.queue) > 1<<22 { // keep the array a burst needed, up to 32 MiB
				p.queue = nil
			}
		}
		return fn, false
	}
	if p.taken.Load() == 0 {
		return nil, false
	}
	for _, v := range p.all {
		if v == w {
			continue
		}
		if fn := v.popPending(); fn != nil {
			return fn, false
		}
	}
	return nil, false
}

// takeBulkLocked takes the oldest turn of the bulk lane, which is not empty.
// Bulk turns are taken one at a time: each is a whole quantum of work, and
// none waits in a worker's pending list while the front lane fills.
func (p *workerPool) takeBulkLocked() func() {
	fn := p.bulk[p.bulkHead]
	p.bulk[p.bulkHead] = nil
	p.bulkHead++
	if p.bulkHead == len(p.bulk) {
		p.bulkSlack = 0
		p.bulk, p.bulkHead = p.bulk[:0], 0
		if cap(p.bulk) > 1<<16 {
			p.bulk = nil
		}
	}
	return fn
}

// popPending takes the oldest of w's taken turns, or nil.
func (w *poolWorker) popPending() func() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 {
		return nil
	}
	fn := w.pending[0]
	copy(w.pending, w.pending[1:])
	w.pending[len(w.pending)-1] = nil
	w.pending = w.pending[:len(w.pending)-1]
	w.pool.taken.Add(-1)
	return fn
}

func (w *poolWorker) hasPending() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending) > 0
}

// waitingLocked reports whether turns wait that a free worker could take:
// queued (bulk ones while under their cap), or taken and not started.
func (p *workerPool) waitingLocked() bool {
	if p.head < len(p.queue) || (p.bulkHead < len(p.bulk) && p.bulkRoomLocked()) {
		return true
	}
	if p.taken.Load() == 0 {
		return false
	}
	for _, w := range p.all {
		if w.hasPending() {
			return true
		}
	}
	return false
}

// retire removes an idle w above Min; false means w must stay.
func (p *workerPool) retire(w *poolWorker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, iw := range p.idle {
		if iw != w {
			continue
		}
		if p.workers <= p.min && !p.closed {
			return false
		}
		copy(p.idle[i:], p.idle[i+1:])
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		p.forgetLocked(w)
		return true
	}
	return false
}

// Blocking runs wait, which blocks (on a group change, a reply), on behalf
// of the turn that called it. While it waits, the pool counts the worker as
// busy elsewhere and wakes or starts another if turns would otherwise
// stand still. It may be called from any goroutine.
func (p *workerPool) Blocking(wait func()) {
	p.mu.Lock()
	p.blocked++
	w := p.helpLocked()
	p.mu.Unlock()
	if w != nil {
		w.wake <- struct{}{}
	}
	defer func() {
		p.mu.Lock()
		p.blocked--
		p.mu.Unlock()
	}()
	wait()
}

// helpLocked gives waiting turns a worker: an idle one, returned to be
// woken after the lock is released, or a new one while fewer than Min are
// not blocked.
func (p *workerPool) helpLocked() *poolWorker {
	if p.stopped || !p.waitingLocked() {
		return nil
	}
	if len(p.idle) > 0 {
		return p.popIdleLocked()
	}
	if p.workers-p.blocked < p.min && p.workers < p.max {
		p.startLocked()
	}
	return nil
}

// monitor adds or wakes a worker when turns have waited a whole check with
// none started anywhere: every worker is stuck in a turn.
func (p *workerPool) monitor() {
	defer close(p.monitorDone)
	t := time.NewTicker(p.stallCheck)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		p.mu.Lock()
		started := p.parks // a park that ended is progress, not a stall
		for _, w := range p.all {
			started += w.started.Load()
		}
		var wake *poolWorker
		if started == last && !p.stopped && p.bulkHead < len(p.bulk) && !p.bulkRoomLocked() {
			p.bulkSlack++ // bulk turns stuck in hub code: let one more run
		}
		if started == last && !p.stopped && p.waitingLocked() {
			if len(p.idle) > 0 {
				wake = p.popIdleLocked()
			} else if p.workers < p.max {
				p.startLocked()
			}
		}
		last = started
		p.mu.Unlock()
		if wake != nil {
			wake.wake <- struct{}{}
		}
	}
}

// Workers is the number of live worker goroutines.
func (p *workerPool) Workers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.workers
}

// Close runs what is queued, and what those turns and others schedule
// meanwhile, then stops the workers and the monitor and waits for them.
// Turns scheduled after Close has returned are dropped. A second call
// waits like the first.
func (p *workerPool) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		idle := p.idle
		p.idle = nil
		p.mu.Unlock()
		for _, w := range idle {
			w.wake <- struct{}{}
		}
		p.mu.Lock()
	}
	for p.workers > 0 {
		p.gone.Wait()
	}
	first := !p.stopped
	p.stopped = true
	p.mu.Unlock()
	if first {
		close(p.stop)
	}
	<-p.monitorDone
}
