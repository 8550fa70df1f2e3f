package actors

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// batchEnd is delivered to an actor after it has handled every message that
// was queued when its turn began (or Throughput of them), before its worker
// moves on. Connection actors write what they coalesced during the turn.
type batchEnd struct{}

var endOfBatch = &batchEnd{}

// batchingMailbox is a protoactor Mailbox that takes queued messages in
// batches (one lock per batch on the consumer side) and tells the actor when
// a batch ends, so it can do once what each message asked for (one write per
// batch instead of one per message).
type batchingMailbox struct {
	mu     sync.Mutex
	user   []any // guarded by mu
	system []any // guarded by mu
	spare  []any // guarded by mu: the last batch's slice, reused

	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher
	runFn      func()

	// A connection's mailbox bounds the bytes of the payloads it holds
	// (Payload.size): past maxPayload, set by the engine (mailboxBudget
	// times the outgoing budget), a payload is not
	// queued and the actor gets mailboxFull once, to close its connection
	// as a slow consumer. A fan-out never waits for a connection.
	payloads   int   // guarded by mu: bytes of the payloads queued
	maxPayload int32 // 0: no bound

	// The quantum (see turnQuantum), owned by the running turn: the actor
	// counts the client messages it ran with spend, and once the quantum
	// is spent it stops, and asks with again to be given the message it
	// was in the middle of once more, next turn. spent stops at
	// turnQuantum. (The small fields below are ordered so that the
	// mailbox, which every connection's Conn holds, packs into 144 bytes;
	// TestConnSizeClass keeps the Conn in its size class.)
	spent int16
	again bool

	full bool // guarded by mu: over the bound; payloads are dropped

	// heavy: the actor's client keeps it busy. Set when a turn spends its
	// quantum, cleared by a turn that runs fewer than lightTurn client
	// messages. A heavy actor's turns go to the pool's bulk lane even
	// when its mailbox was empty when a message came: a flooding client
	// whose actor caught up for a moment does not get ahead of clients
	// that send now and then.
	heavy atomic.Bool

	scheduled bool // guarded by mu: a run is queued or running
	suspended bool // owned by the running turn
	notify    bool // deliver endOfBatch
	// stopped: the actor has stopped (stop); what is posted or still
	// queued is dropped. Written by the running turn under mu.
	stopped bool
}

// lightTurn: a turn that runs fewer client messages than this makes its
// actor light again (heavy).
const lightTurn = 4

// turnQuantum bounds the client messages (hub method calls) a connection
// actor runs in one turn. An actor that has more to do after its quantum
// yields its worker, and its next turn goes to the back of the pool's bulk
// lane, so that a connection whose client sends a message now and then
// (its actor idle when the message comes) waits for at most the turns
// running when it came, not for every flooding connection's whole backlog.
const turnQuantum = 32

// spend counts n client messages run in this turn, and reports whether
// the turn's quantum has room for more. The actor calls it in its turn.
func (m *batchingMailbox) spend(n int) bool {
	m.spent = int16(min(int(m.spent)+n, turnQuantum))
	return m.spent < turnQuantum
}

// roomLeft reports whether the turn's quantum has room for another client
// message.
func (m *batchingMailbox) roomLeft() bool { return m.spent < turnQuantum }

// handAgain asks for the message being handled to be handed to the actor
// again next turn, before anything queued after it: the actor stopped in
// its middle, its quantum spent. The actor calls it in its turn.
func (m *batchingMailbox) handAgain() { m.again = true }

// bulkScheduler is a dispatcher with a lane for turns that come back
// because their quantum or throughput ran out (the workerPool).
type bulkScheduler interface{ ScheduleBulk(fn func()) }

// reschedule queues the mailbox's next turn after its actor's quantum ran
// out: in the bulk lane when the dispatcher has one.
func (m *batchingMailbox) reschedule() {
	if b, ok := m.dispatcher.(bulkScheduler); ok {
		b.ScheduleBulk(m.runFn)
		return
	}
	m.dispatcher.Schedule(m.runFn)
}

// mailboxFull tells a connection actor that its mailbox refused a payload:
// it is behind by more than its outgoing budget.
type mailboxFull struct{}

var fullMailbox = &mailboxFull{}

// newBatchingMailbox returns a producer of the mailboxes of protoactor's
// actors (the hub, group and shard actors).
func newBatchingMailbox() actor.MailboxProducer {
	return func() actor.Mailbox {
		m := &batchingMailbox{}
		m.runFn = m.run
		return m
	}
}

// initConn readies a connection's mailbox, which is part of its Conn: the
// actor receives *batchEnd after each batch of user messages, and the
// mailbox holds at most maxPayload bytes of payloads.
func (m *batchingMailbox) initConn(a connActor, pool *workerPool, maxPayload int32) {
	m.notify = true
	m.maxPayload = maxPayload
	m.runFn = m.run
	m.RegisterHandlers(a, pool)
}

func (m *batchingMailbox) PostUserMessage(msg any) {
	if !m.post(msg) {
		return
	}
	if m.heavy.Load() {
		m.reschedule()
		return
	}
	m.dispatcher.Schedule(m.runFn)
}

// post queues msg and reports whether the caller must schedule m.runFn. A
// fan-out posts to many mailboxes this way and schedules them in batches.
func (m *batchingMailbox) post(msg any) (schedule bool) {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return false
	}
	if p, ok := msg.(*Payload); ok && m.maxPayload > 0 {
		if m.full {
			m.mu.Unlock()
			return false
		}
		if m.payloads+p.size > int(m.maxPayload) {
			m.full = true
			msg = fullMailbox
		} else {
			m.payloads += p.size
		}
	}
	m.user = append(m.user, msg)
	schedule = !m.scheduled
	m.scheduled = true
	m.mu.Unlock()
	return schedule
}

func (m *batchingMailbox) PostSystemMessage(msg any) {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return
	}
	m.system = append(m.system, msg)
	schedule := !m.scheduled
	m.scheduled = true
	m.mu.Unlock()
	if schedule {
		m.dispatcher.Schedule(m.runFn)
	}
}

func (m *batchingMailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker = invoker
	m.dispatcher = dispatcher
}

func (m *batchingMailbox) Start() {}

// stop stops the actor from its own turn: nothing more it was sent, or is
// sent from now on, reaches it. (The mailboxes of protoactor's actors stop
// with their actor instead.)
func (m *batchingMailbox) stop() {
	m.mu.Lock()
	m.stopped = true
	clear(m.user)
	m.user, m.system, m.spare = nil, nil, nil
	m.mu.Unlock()
}

func (m *batchingMailbox) UserMessageCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.user)
}

// run is one turn: it takes everything queued, system messages first, runs
// it, tells the actor the batch ended, and goes again until the mailbox is
// empty, the dispatcher's throughput is spent or the actor's quantum is,
// when it reschedules itself (in the bulk lane) so other mailboxes get a
// worker. Each batch costs two lock round trips.
func (m *batchingMailbox) run() {
	budget := m.dispatcher.Throughput()
	handled := 0
	m.spent = 0
	m.mu.Lock()
	for {
		system := m.system
		m.system = nil
		var batch []any
		if !m.suspended && len(m.user) > 0 {
			batch = m.user
			m.user = m.spare[:0]
			m.spare = nil
		}
		if len(system) == 0 && len(batch) == 0 {
			m.scheduled = false
			if m.spent < lightTurn && m.heavy.Load() {
				m.heavy.Store(false)
			}
			// An idle actor keeps a queue for one message at most: most
			// connections are idle, and a busy one reuses what it has.
			if cap(m.user) > 1 {
				m.user = nil
			}
			if cap(m.spare) > 1 {
				m.spare = nil
			}
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()

		payloads, n := m.handle(system, batch)
		handled += n
		rest := batch[n:]
		yield := len(rest) > 0 || m.spent >= turnQuantum
		if yield && !m.heavy.Load() {
			m.heavy.Store(true)
		}

		m.mu.Lock()
		if m.maxPayload > 0 {
			m.payloads -= payloads
		}
		m.putBackLocked(batch, rest)
		if handled >= budget || yield {
			more := len(m.system) > 0 || (!m.suspended && len(m.user) > 0)
			m.scheduled = more
			m.mu.Unlock()
			switch {
			case !more:
			case yield:
				m.reschedule() // its client's messages: the bulk lane
			default:
				// Deliveries past the throughput: the front lane, as a
				// fan-out's members must keep up with it.
				m.dispatcher.Schedule(m.runFn)
			}
			return
		}
	}
}

// putBackLocked returns what the actor did not take of batch (rest, when
// its quantum cut the batch) to the front of the queue, before anything
// queued since, and keeps a small spent slice for the next batch.
func (m *batchingMailbox) putBackLocked(batch, rest []any) {
	if m.stopped {
		return
	}
	if len(rest) > 0 {
		queued := m.user
		m.user = append(rest, queued...)
		clear(queued)
		if m.spare == nil && cap(queued) <= 64 {
			m.spare = queued[:0]
		}
		return
	}
	if batch != nil && cap(batch) <= 64 && m.spare == nil {
		m.spare = batch[:0]
	}
}

// handle runs one batch: the system messages, then the user messages and
// the end of the batch. It returns the bytes of the payloads it took, and
// how many of the batch's messages it is done with: fewer than all when
// the actor's quantum ran out (batch[n:] is left for the next turn, the
// first of it handed again when the actor asked with handAgain).
func (m *batchingMailbox) handle(system, batch []any) (payloads, n int) {
	for _, msg := range system {
		switch msg.(type) {
		case *actor.SuspendMailbox:
			m.suspended = true
		case *actor.ResumeMailbox:
			m.suspended = false
		default:
			m.invokeSystem(msg)
		}
	}
	for n < len(batch) {
		if m.spent >= turnQuantum {
			break // the rest waits for the next turn, in order
		}
		msg := batch[n]
		if p, ok := msg.(*Payload); ok {
			payloads += p.size
		}
		if !m.stopped {
			m.invoke(msg)
			if m.again {
				m.again = false
				if p, ok := msg.(*Payload); ok {
					payloads -= p.size
				}
				break
			}
		}
		batch[n] = nil
		n++
	}
	if len(batch) > 0 && m.notify && !m.stopped {
		m.invoke(endOfBatch)
	}
	return payloads, n
}

func (m *batchingMailbox) invoke(msg any) {
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	m.invoker.InvokeUserMessage(msg)
}

func (m *batchingMailbox) invokeSystem(msg any) {
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	m.invoker.InvokeSystemMessage(msg)
}
