package backplane

import (
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a backplane's counters, for metrics. Counters
// only grow while the backplane lives.
type Stats struct {
	// Up: the backplane's server answers; publishes are accepted.
	Up bool
	// Published counts messages handed to the server; PublishErrors
	// those that failed, at Publish (ErrUnavailable) or after.
	Published, PublishErrors uint64
	// Received counts messages that reached this node (before its
	// handlers: a message of a channel it no longer subscribes to
	// counts too).
	Received uint64
	// Errors counts failed operations with the server of every kind: a
	// lost connection, a failed read, publish batch, subscription change
	// or presence operation.
	Errors uint64
	// Reconnects counts connections made again after a loss.
	Reconnects uint64
	// Lost counts messages known to be lost on their way to this node:
	// with PostgreSQL, messages the retention deleted before this node
	// read them; with NATS, messages dropped because this node fell
	// behind, or a part of a large message that did not arrive. Redis
	// and NATS do not know of the messages published while a node is
	// disconnected (at-most-once).
	Lost uint64
	// Queued is the number of publishes waiting to be written.
	Queued int
	// Lag is how far behind this node's delivery is, as last measured:
	// with PostgreSQL, the time from a message's insertion to its read
	// (both on the database's clock); with Redis, the round trip of a
	// PING on the subscription connection, which queues behind the
	// messages in flight; with NATS, the round trip of a probe message
	// through the server and this node's delivery queue. A measurement
	// that has not come back counts from when it was sent.
	Lag time.Duration
}

// StatsReporter is a Backplane that reports Stats. Every backplane of
// this package is one.
type StatsReporter interface {
	Stats() Stats
}

// counters are the atomically updated parts of Stats.
type counters struct {
	published, publishErrors, received, errors, reconnects, lost atomic.Uint64
	lag                                                          atomic.Int64 // last measured, nanoseconds
	probeSent                                                    atomic.Int64 // unix nanos of a probe not back yet; 0: none
}

func (c *counters) snapshot(up bool, queued int) Stats {
	lag := time.Duration(c.lag.Load())
	if sent := c.probeSent.Load(); sent != 0 {
		lag = max(lag, time.Since(time.Unix(0, sent)))
	}
	return Stats{
		Up:            up,
		Published:     c.published.Load(),
		PublishErrors: c.publishErrors.Load(),
		Received:      c.received.Load(),
		Errors:        c.errors.Load(),
		Reconnects:    c.reconnects.Load(),
		Lost:          c.lost.Load(),
		Queued:        queued,
		Lag:           lag,
	}
}

// probe marks a lag probe as sent, unless one is already out.
func (c *counters) probe(now time.Time) bool {
	return c.probeSent.CompareAndSwap(0, now.UnixNano())
}

// probed records the round trip of the probe out, if any.
func (c *counters) probed(now time.Time) {
	if sent := c.probeSent.Swap(0); sent != 0 {
		c.lag.Store(now.UnixNano() - sent)
	}
}

// backoff is an exponential delay between retries: from its first
// value, doubling to at most its cap, with up to a quarter of random
// jitter so that nodes cut off together do not come back in step.
type backoff struct {
	next, first, cap time.Duration
}

func newBackoff(first, cap time.Duration) backoff {
	return backoff{next: first, first: first, cap: cap}
}

// wait returns the delay before the next try and doubles it.
func (b *backoff) wait() time.Duration {
	d := b.next
	b.next = min(2*b.next, b.cap)
	return d + time.Duration(rand.Uint64N(uint64(d/4)+1))
}

// reset starts again from the first delay.
func (b *backoff) reset() { b.next = b.first }

// every lets through one event per period: a backplane that fails keeps
// failing, and its log should say so without flooding.
type every struct {
	last atomic.Int64 // unix nanos of the last event let through
}

func (e *every) allow(period time.Duration) bool {
	now := time.Now().UnixNano()
	last := e.last.Load()
	return now-last >= int64(period) && e.last.CompareAndSwap(last, now)
}
