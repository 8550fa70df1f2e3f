// Package actors is the engine under package hub: the actors that hold a
// hub's connections, groups and users, on protoactor-go, and the glue that
// joins a WebSocket on the poller (package netpoll) to its connection actor.
//
// It is not a public API. Package hub is its only user: hub turns a Go
// value into the Invoker that connection actors run, and offers the rest
// (the runtime, the transport side of a connection, statistics) as hub
// types. actors exports what hub needs and nothing more; its names and
// signatures change with hub's needs.
//
// # What it owns
//
//   - A connection actor per connection (Conn): its own batching mailbox on
//     the worker pool, in the Conn, not a protoactor process (no PID,
//     context or registry entry: connactor.go). It answers the handshake,
//     runs the client's messages one at a time through the Invoker (the hub
//     code), queues what it sends during a turn and writes it once at the
//     end of the mailbox batch (coalescing), pings idle clients, and closes
//     the connection with the right Close message (allowReconnect) on bad
//     input, timeouts, slow consumption, Abort or Shutdown.
//   - A group actor per group, and the implicit groups of every connection
//     and of each user. A group holds its members and fans a Payload out to
//     them; past a partition size (1024) it spreads them over shard actors so
//     that one broadcast keeps every core busy.
//   - The hub actor, which creates group actors on their first join and stops
//     them when they are empty (releasing their memory). Sends do not pass
//     through it; a sender on this node waits while a group is far behind
//     (groupqueue.go).
//   - The heartbeat: one goroutine and one ticker per engine, which checks
//     every connection's timestamps each tick (keep-alive, client timeout,
//     handshake timeout). No connection has a timer.
//   - Stateful reconnect (stateful.go): a connection that negotiated it
//     numbers what it sends and receives, keeps what the client has not
//     acknowledged (bounded in bytes), and survives an unclean transport drop
//     until ReattachWebSocket gives it a new socket or DisconnectTimeout
//     passes.
//   - WebSockets (websocket.go): a socket registered with the System's
//     poller feeds its connection (Conn.Feed) from a poller worker, and the
//     connection actor writes to it; no goroutine waits on a socket.
//   - Bounds on everything a client can make grow: the inbound budget
//     (conn_in.go: what a client sent and its actor has not handled; past
//     it the socket is not read), a group's queue (groupqueue.go), a
//     connection's mailbox (mailbox.go: payloads past its budget close it
//     as a slow consumer), the outgoing buffer (conn_out.go), upload
//     streams (direct.go), the groups of a connection (engine.go).
//   - workerPool, the dispatcher that runs connection mailboxes on a fixed
//     set of reused goroutines, and batchingMailbox, which takes queued
//     messages a batch at a time and tells the actor when a batch ends.
//
// # Encode once
//
// A Payload wraps one hub message for many recipients. The first recipient
// that speaks a protocol encodes it, together with its WebSocket frame
// header, and every other recipient of that protocol shares the same bytes:
// a broadcast to a million connections encodes once per protocol and copies
// nothing per recipient.
//
// # Goroutines
//
// No goroutine belongs to a connection. Connection actors run on the
// workerPool's workers (GOMAXPROCS of them, plus temporary ones while hub
// code blocks); the poller's workers read and write the WebSockets. Hub,
// group and shard actors are few and run on a goroutine per mailbox turn,
// so a connection that waits for a group change never waits behind other
// connections. The heartbeat goroutine stops in Engine.Shutdown; the
// poller, the pool and protoactor stop in System.Close.
//
// # Example
//
// How hub drives it (a transport goes through hub: see hub.Hub.Connect and
// hub.Hub.ConnectWebSocket):
//
//	sys, err := actors.NewSystem(actors.SystemConfig{})
//	defer sys.Close()
//	engine, err := actors.NewEngine(sys, invoker, cfg) // cfg filled by hub from hub.Config
//	defer engine.Shutdown(ctx)
//	// A connection for an HTTP transport, fed what the client sends:
//	conn, err := engine.NewConn(actors.ConnInfo{ID: id}, transport)
//	conn.Feed(data)
//	// One for an upgraded WebSocket, which the runtime's poller then serves:
//	ws, err := engine.NewWebSocket(actors.ConnInfo{ID: id}, token, ended)
//	ws.Start(netConn, buffered)
//	// Anyone sends to everyone, encoding once:
//	engine.SendAll(actors.NewPayload(&protocol.Invocation{Target: "tick", Arguments: []any{1}}))
package actors
