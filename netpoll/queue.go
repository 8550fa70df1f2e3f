package netpoll

import (
	"sync"
	"time"
)

// runQueue holds the connections waiting for a worker, in two FIFO lanes
// linked through Conn.next: the front lane, and the bulk lane for heavy
// connections (flagHeavy), which gets one pop in bulkEvery while the front
// lane is busy. A connection that sends now and then does not wait behind
// every flooding connection's read pass, and the flooders still move.
// push never blocks, so that anyone (the event loop, a Handler calling Drop
// on another Conn) can queue without waiting for the workers.
//
// At most bulkMax bulk passes run at once, one fewer than the workers:
// while heavy connections keep the others busy, one worker waits for the
// front lane, and a connection that sends now and then is read as soon
// as it is ready instead of after a heavy connection's pass. A worker
// that ends a bulk pass while the front lane is in use (frontsMoved)
// parks before its next pop, keeping its bulk place (see BulkPark).
type runQueue struct {
	mu          sync.Mutex
	cond        sync.Cond
	lanes       [2]lane // guarded by mu: front, bulk
	sinceBulk   int     // guarded by mu: pops from the front lane since the last from bulk
	bulkRunning int     // guarded by mu: bulk passes popped and not ended (endBulk)
	bulkMax     int     // set by init: the most bulk passes at once
	idle        int     // guarded by mu; workers waiting in pop
	fronts      uint64  // guarded by mu: pushes to the front lane (frontsMoved)
	closed      bool    // guarded by mu
}

type lane struct{ head, tail *Conn }

// bulkEvery: while both lanes have connections waiting, one pop in this
// many takes from the bulk lane.
const bulkEvery = 8

// init readies the queue for workers+1 goroutines that pop: at most
// workers of them run bulk passes.
func (q *runQueue) init(workers int) {
	q.cond.L = &q.mu
	q.bulkMax = max(1, workers)
}

// push queues c, in the bulk lane when bulk is true.
func (q *runQueue) push(c *Conn, bulk bool) {
	q.mu.Lock()
	l := &q.lanes[0]
	if bulk {
		l = &q.lanes[1]
	} else {
		q.fronts++
	}
	if l.tail == nil {
		l.head = c
	} else {
		l.tail.next = c
	}
	l.tail = c
	// A waiting worker may take c (a bulk pass only under the cap: a
	// worker woken for nothing would not be waiting, ready, when a
	// connection comes to the front lane).
	if q.idle > 0 && (!bulk || !q.bulkFullLocked()) {
		q.cond.Signal()
	}
	q.mu.Unlock()
}

// pop waits for a connection; nil once the queue is closed and empty. bulk
// reports that it came from the bulk lane: the caller then passes ended
// true to its next pop, which counts the pass out of the bulk passes
// running.
func (q *runQueue) pop(ended bool) (c *Conn, bulk bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if ended {
		q.bulkRunning--
	}
	for {
		if c, bulk = q.takeLocked(); c != nil || q.closed {
			return c, bulk
		}
		q.idle++
		q.cond.Wait()
		q.idle--
	}
}

// takeLocked takes the next connection, if one may be taken now.
func (q *runQueue) takeLocked() (c *Conn, bulk bool) {
	if q.lanes[0].head == nil && (q.lanes[1].head == nil || q.bulkFullLocked()) {
		return nil, false
	}
	i := 0
	switch {
	case q.lanes[1].head == nil || q.bulkFullLocked():
	case q.lanes[0].head == nil || q.sinceBulk >= bulkEvery:
		i = 1
	}
	if i == 1 {
		q.sinceBulk = 0
		q.bulkRunning++
	} else if q.lanes[1].head != nil {
		q.sinceBulk++
	}
	l := &q.lanes[i]
	c = l.head
	l.head = c.next
	if l.head == nil {
		l.tail = nil
	}
	c.next = nil
	return c, i == 1
}

// bulkFullLocked reports whether bulkMax bulk passes run. Once the queue
// is closed the cap is off: what is left is drained.
func (q *runQueue) bulkFullLocked() bool { return q.bulkRunning >= q.bulkMax && !q.closed }

// frontsMoved reports whether connections were pushed to the front lane
// since *seen, the count a worker saw when its last bulk pass ended, and
// updates *seen.
func (q *runQueue) frontsMoved(seen *uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	moved := q.fronts != *seen
	*seen = q.fronts
	return moved
}

// close makes pop return nil once the queue is empty.
func (q *runQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// deadlines is the FIFO of closing connections and the time their close
// handshake gives up. Every entry is now + Config.CloseTimeout, so the FIFO
// is also in deadline order: no heap, no timer per connection. The first
// deadline is the read deadline of the epoll descriptor (alarm), which
// wakes the event loop to expire what is due.
type deadlines struct {
	alarm func(time.Time) error // sets the event loop's wake-up time; zero: none
	epoch time.Time             // the Poller's clock origin

	mu    sync.Mutex
	items []deadline // guarded by mu; items[head:] are pending, oldest first
	head  int        // guarded by mu
}

type deadline struct {
	c  *Conn
	at time.Duration // on the Poller's clock (Poller.now)
}

// add queues c; the first deadline sets the alarm.
func (d *deadlines) add(c *Conn, at time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.head > 0 && d.head >= len(d.items)/2 {
		n := copy(d.items, d.items[d.head:])
		clear(d.items[n:])
		d.items, d.head = d.items[:n], 0
	}
	d.items = append(d.items, deadline{c, at})
	if len(d.items)-d.head == 1 {
		d.alarmLocked()
	}
}

// expire removes and returns the connections whose deadline passed, and
// sets the alarm for the next one. fired reports that the alarm went off.
func (d *deadlines) expire(now time.Duration, fired bool) []*Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	var due []*Conn
	for d.head < len(d.items) && d.items[d.head].at <= now {
		due = append(due, d.items[d.head].c)
		d.items[d.head] = deadline{}
		d.head++
	}
	if d.head == len(d.items) {
		d.items, d.head = d.items[:0], 0
	}
	if due != nil || fired {
		d.alarmLocked()
	}
	return due
}

// alarmLocked points the alarm at the first pending deadline, or clears it.
func (d *deadlines) alarmLocked() {
	var t time.Time
	if d.head < len(d.items) {
		t = d.epoch.Add(d.items[d.head].at)
	}
	_ = d.alarm(t) // fails only once the descriptor is closed
}

// clear forgets every pending deadline.
func (d *deadlines) clear() {
	d.mu.Lock()
	clear(d.items)
	d.items, d.head = nil, 0
	d.mu.Unlock()
}
