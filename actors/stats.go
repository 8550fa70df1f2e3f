package actors

import (
	"sync"
	"sync/atomic"
	"time"
)

// closeReason says why a connection ended, for the counters.
type closeReason int

const (
	reasonClient    closeReason = iota // the client sent Close
	reasonTransport                    // the transport ended (clean close or drop)
	reasonServer                       // hub code closed it (Abort, OnConnected error)
	reasonProtocol                     // bad input: malformed or oversized message
	reasonTimeout                      // the client went silent
	reasonSlow                         // the client did not read fast enough
	reasonShutdown                     // the server shut down
	reasonHandshake                    // the handshake failed or never came
	numReasons
)

var reasonNames = [numReasons]string{"client", "transport", "server", "protocol", "timeout", "slow_consumer", "shutdown", "handshake"}

type stats struct {
	connected atomic.Int64
	groups    atomic.Int64 // group actors alive
	// readPauses counts the times a connection's reading was paused
	// because its inbound budget was spent.
	readPauses atomic.Uint64
	msgsIn     atomic.Uint64
	bytesIn    atomic.Uint64
	out        [outStripes]outStripe // written on every flush, so striped by connection
	closes     [numReasons]atomic.Uint64
	// lastRemote is the unix nanos a payload from another node last
	// arrived (FromEncoded).
	lastRemote atomic.Int64

	// Connections past their handshake by protocol (the slot of the
	// engine's protocol list) and by transport (a slot per transport name).
	byProtocol  [maxProtocols]atomic.Int64
	byTransport [maxTransports]atomic.Int64

	transportMu    sync.Mutex
	transportNames []string // guarded by transportMu: slot -> name; slot 0 is "other"
}

// maxTransports bounds the transport names counted apart; a name past
// them, or "", counts as "other".
const maxTransports = 8

// transportName is the name of a transport slot other than 0 (which
// counts every transport that has no slot of its own): "" for 0.
func (s *stats) transportName(slot int) string {
	if slot == 0 {
		return ""
	}
	s.transportMu.Lock()
	defer s.transportMu.Unlock()
	return s.transportNames[slot]
}

// transportSlot is name's slot in byTransport, given at its first use.
func (s *stats) transportSlot(name string) int {
	if name == "" || name == otherTransport {
		return 0
	}
	s.transportMu.Lock()
	defer s.transportMu.Unlock()
	if len(s.transportNames) == 0 {
		s.transportNames = append(s.transportNames, otherTransport)
	}
	for i, n := range s.transportNames {
		if n == name {
			return i
		}
	}
	if len(s.transportNames) == maxTransports {
		return 0
	}
	s.transportNames = append(s.transportNames, name)
	return len(s.transportNames) - 1
}

const otherTransport = "other"

// outStripes spreads the outgoing counters over cache lines, so that
// workers flushing different connections do not fight over one.
const outStripes = 16

type outStripe struct {
	msgs  atomic.Uint64
	bytes atomic.Uint64
	last  atomic.Int64 // unix nanos the stripe's last write to a transport returned
	_     [40]byte
}

func (s *stats) addOut(seq uint64, msgs, bytes int, now int64) {
	st := &s.out[seq%outStripes]
	st.msgs.Add(uint64(msgs))
	st.bytes.Add(uint64(bytes))
	st.last.Store(now)
}

// Stats is a snapshot of an engine's counters.
type Stats struct {
	// Connections is the number of connections past their handshake.
	Connections int64
	// Open is every connection the engine holds, handshake or not.
	Open int
	// MessagesIn and MessagesOut count hub messages (pings included).
	MessagesIn, MessagesOut uint64
	// BytesIn and BytesOut count transport payload bytes.
	BytesIn, BytesOut uint64
	// Groups is the number of group actors alive: one per group with
	// members, including the implicit groups of all connections and of
	// each user (an empty group's actor is stopped).
	Groups int64
	// ReadPauses counts the times a connection's reading was paused because
	// what it had sent and its actor had not handled yet reached its
	// inbound budget.
	ReadPauses uint64
	// Closes counts ended connections by reason: client, transport, server,
	// protocol, timeout, slow_consumer, shutdown, handshake.
	Closes map[string]uint64
	// Transports splits Connections by transport (ConnInfo.Transport): every
	// transport that has had a connection is listed, and "other" (no name,
	// or past maxTransports names) when it has connections.
	Transports map[string]int64
	// Protocols splits Connections by hub protocol ("json", "messagepack"):
	// every protocol the engine speaks is listed.
	Protocols map[string]int64
	// LastSend is when a write to a connection's transport last returned
	// (zero: never). After a broadcast, with nothing else sent, it is when
	// this node's fan-out wrote its last connection.
	LastSend time.Time
	// LastRemote is when a message from another node (through the
	// backplane) last arrived to be delivered here (zero: never).
	LastRemote time.Time
}

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats {
	s := Stats{
		Connections: e.stats.connected.Load(),
		Open:        e.conns.len(),
		Groups:      e.stats.groups.Load(),
		ReadPauses:  e.stats.readPauses.Load(),
		MessagesIn:  e.stats.msgsIn.Load(),
		BytesIn:     e.stats.bytesIn.Load(),
		Closes:      make(map[string]uint64, numReasons),
	}
	var last int64
	for i := range e.stats.out {
		s.MessagesOut += e.stats.out[i].msgs.Load()
		s.BytesOut += e.stats.out[i].bytes.Load()
		last = max(last, e.stats.out[i].last.Load())
	}
	s.LastSend = unixNanoTime(last)
	s.LastRemote = unixNanoTime(e.stats.lastRemote.Load())
	for i := range e.stats.closes {
		s.Closes[reasonNames[i]] = e.stats.closes[i].Load()
	}
	s.Protocols = make(map[string]int64, len(e.cfg.Protocols))
	for i, p := range e.cfg.Protocols {
		s.Protocols[p.Name()] = e.stats.byProtocol[i].Load()
	}
	e.stats.transportMu.Lock()
	s.Transports = make(map[string]int64, len(e.stats.transportNames))
	for i, name := range e.stats.transportNames {
		if i > 0 { // "other" only when it has connections (below)
			s.Transports[name] = e.stats.byTransport[i].Load()
		}
	}
	e.stats.transportMu.Unlock()
	if n := e.stats.byTransport[0].Load(); n != 0 {
		s.Transports[otherTransport] = n
	}
	return s
}

// unixNanoTime is the time of unix nanos n; zero for 0.
func unixNanoTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
