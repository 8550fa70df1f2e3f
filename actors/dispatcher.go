package actors

import (
	"runtime"
	"sync"
	"time"
)

// Pool is a protoactor Dispatcher that runs mailboxes on a pool of reused
// goroutines instead of starting one per scheduled mailbox.
//
// Min workers take work from one shared queue and run it back to back; a
// worker parks only when the queue is empty. Because hub methods run in
// their connection's turn and may block (waiting on a group change, or on
// user code), a monitor checks every StallCheck whether queued work has
// waited that long with no worker taking any; if so it adds a worker, up to
// Max, so that blocked mailboxes never starve the others. Workers above Min
// leave after IdleTimeout without work. Schedule never blocks.
type Pool struct {
	throughput  int
	min, max    int
	idleTimeout time.Duration
	stallCheck  time.Duration

	mu      sync.Mutex
	queue   []func()      // guarded by mu: FIFO of work, from head
	head    int           // guarded by mu
	idle    []*poolWorker // guarded by mu: parked workers, most recent last
	workers int           // guarded by mu
	taken   uint64        // guarded by mu: work taken so far, for the monitor
	blocked int           // guarded by mu: workers waiting inside Blocking
	closed  bool          // guarded by mu

	stop chan struct{}
	done sync.WaitGroup
}

type poolWorker struct {
	wake chan struct{} // capacity 1
}

// PoolConfig sizes a Pool. The zero value works.
type PoolConfig struct {
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
}

// NewPool returns a running pool.
func NewPool(cfg PoolConfig) *Pool {
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
	p := &Pool{
		throughput: cfg.Throughput, min: cfg.Min, max: cfg.Max,
		idleTimeout: cfg.IdleTimeout, stallCheck: cfg.StallCheck,
		stop: make(chan struct{}),
	}
	p.done.Add(1)
	go p.monitor()
	return p
}

// Throughput is the number of messages a mailbox handles per turn.
func (p *Pool) Throughput() int { return p.throughput }

// Schedule queues fn to run on a worker. It never blocks.
func (p *Pool) Schedule(fn func()) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		go fn() // late work during shutdown still runs, so no mailbox is stranded
		return
	}
	p.queue = append(p.queue, fn)
	var w *poolWorker
	if n := len(p.idle); n > 0 {
		w = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
	} else if p.workers-p.blocked < p.min && p.workers < p.max {
		p.startLocked()
	}
	p.mu.Unlock()
	if w != nil {
		w.wake <- struct{}{}
	}
}

// ScheduleMany queues every fn, waking as many idle workers as it can use,
// under one lock. It never blocks.
func (p *Pool) ScheduleMany(fns []func()) {
	if len(fns) == 0 {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		for _, fn := range fns {
			go fn()
		}
		return
	}
	p.queue = append(p.queue, fns...)
	n := min(len(fns), len(p.idle))
	wake := make([]*poolWorker, n)
	copy(wake, p.idle[len(p.idle)-n:])
	clear(p.idle[len(p.idle)-n:])
	p.idle = p.idle[:len(p.idle)-n]
	for p.workers-p.blocked < p.min && p.workers < p.max {
		p.startLocked()
	}
	p.mu.Unlock()
	for _, w := range wake {
		w.wake <- struct{}{}
	}
}

func (p *Pool) startLocked() {
	p.workers++
	p.done.Add(1)
	go p.run(&poolWorker{wake: make(chan struct{}, 1)})
}

// run takes work until the pool closes or, above Min, it idles too long.
func (p *Pool) run(w *poolWorker) {
	defer p.done.Done()
	var timer *time.Timer
	for {
		p.mu.Lock()
		for p.head == len(p.queue) {
			if p.closed {
				p.workers--
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
		}
		// Take a share of a long queue at once: one lock for several turns.
		// Short queues are taken one by one, so a turn that blocks holds up
		// little behind it.
		n := min(maxTake, (len(p.queue)-p.head)/(2*p.workers))
		n = max(n, 1)
		var took [maxTake]func()
		copy(took[:n], p.queue[p.head:p.head+n])
		clear(p.queue[p.head : p.head+n])
		p.head += n
		if p.head == len(p.queue) {
			p.queue, p.head = p.queue[:0], 0
			if cap(p.queue) > 1<<22 { // keep the array a burst needed, up to 32 MiB
				p.queue = nil
			}
		}
		p.taken += uint64(n)
		p.mu.Unlock()
		for _, fn := range took[:n] {
			fn()
		}
	}
}

// maxTake bounds the turns a worker takes from the queue under one lock.
const maxTake = 8

// retire removes an idle w above Min; false means w must stay.
func (p *Pool) retire(w *poolWorker) bool {
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
		p.workers--
		return true
	}
	return false
}

// Blocking runs wait, which blocks (on a group change, a reply), on behalf
// of the work that called it. While it waits, the pool counts the worker as
// busy elsewhere and starts another if queued work would otherwise stand
// still, as the Go runtime hands off a processor around a blocking syscall.
// It may be called from any goroutine.
func (p *Pool) Blocking(wait func()) {
	p.mu.Lock()
	p.blocked++
	if p.head < len(p.queue) && len(p.idle) == 0 && p.workers-p.blocked < p.min && p.workers < p.max && !p.closed {
		p.startLocked()
	}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.blocked--
		p.mu.Unlock()
	}()
	wait()
}

// monitor adds a worker when queued work has waited a whole check with no
// worker taking any: every worker is blocked.
func (p *Pool) monitor() {
	defer p.done.Done()
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
		if p.head < len(p.queue) && p.taken == last && len(p.idle) == 0 && p.workers < p.max {
			p.startLocked()
		}
		last = p.taken
		p.mu.Unlock()
	}
}

// Workers is the number of live worker goroutines.
func (p *Pool) Workers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.workers
}

// Close stops the workers once the queue is empty and waits for them.
// Work scheduled after Close runs on its own goroutine.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	close(p.stop)
	for _, w := range idle {
		w.wake <- struct{}{}
	}
	p.done.Wait()
}
