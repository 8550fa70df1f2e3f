package netpoll

import (
	"sync"
	"time"
)

// runQueue is the unbounded FIFO of connections waiting for a worker,
// linked through Conn.next. push never blocks, so that anyone (the event
// loop, a Handler calling Drop on another Conn) can queue without waiting
// for the workers.
type runQueue struct {
	mu     sync.Mutex
	cond   sync.Cond
	head   *Conn // guarded by mu
	tail   *Conn // guarded by mu
	idle   int   // guarded by mu; workers waiting in pop
	closed bool  // guarded by mu
}

func (q *runQueue) init() { q.cond.L = &q.mu }

func (q *runQueue) push(c *Conn) {
	q.mu.Lock()
	if q.tail == nil {
		q.head = c
	} else {
		q.tail.next = c
	}
	q.tail = c
	if q.idle > 0 {
		q.cond.Signal()
	}
	q.mu.Unlock()
}

// pop waits for a connection; nil once the queue is closed and empty.
func (q *runQueue) pop() *Conn {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.head == nil {
		if q.closed {
			return nil
		}
		q.idle++
		q.cond.Wait()
		q.idle--
	}
	c := q.head
	q.head = c.next
	if q.head == nil {
		q.tail = nil
	}
	c.next = nil
	return c
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
