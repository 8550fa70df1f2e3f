package actors

import "sync/atomic"

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
	msgsIn    atomic.Uint64
	msgsOut   atomic.Uint64
	bytesIn   atomic.Uint64
	bytesOut  atomic.Uint64
	closes    [numReasons]atomic.Uint64
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
	// Closes counts ended connections by reason: client, transport, server,
	// protocol, timeout, slow_consumer, shutdown, handshake.
	Closes map[string]uint64
}

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats {
	s := Stats{
		Connections: e.stats.connected.Load(),
		Open:        e.conns.len(),
		MessagesIn:  e.stats.msgsIn.Load(),
		MessagesOut: e.stats.msgsOut.Load(),
		BytesIn:     e.stats.bytesIn.Load(),
		BytesOut:    e.stats.bytesOut.Load(),
		Closes:      make(map[string]uint64, numReasons),
	}
	for i := range e.stats.closes {
		s.Closes[reasonNames[i]] = e.stats.closes[i].Load()
	}
	return s
}
