package main

import (
	"errors"
	"strconv"
	"strings"

	"github.com/actorhub/actorhub/netpoll"
	"github.com/actorhub/actorhub/protocol"
	"github.com/gobwas/ws"
)

// protocols are the hub protocols served, indexed by conn.pi.
var protocols = [2]protocol.Protocol{protocol.JSON, protocol.MessagePack}

// Texts the client sees, as ASP.NET Core writes them.
const errClosed = "Connection closed with an error."

func errNoMethod(target string) string {
	return "Failed to invoke '" + target + "' due to an error on the server. HubException: Method does not exist."
}

func errBadArgs(target string) string {
	return "Failed to invoke '" + target + "' due to an error on the server."
}

// conn is one WebSocket connection: the netpoll Handler that parses its hub
// messages and answers them on the worker that read them.
type conn struct {
	srv *Server

	// Set by the first OnMessage, before the conn is added to the registry
	// (so under a shard's or srv.mu's happens-before for every other reader); fixed after.
	nc    *netpoll.Conn
	proto protocol.Protocol
	pi    int // index of proto in protocols

	shard  *shard              // set by srv.add, after the handshake
	slot   int                 // guarded by shard.mu; index in shard.conns, -1 when not there
	groups map[string]struct{} // guarded by srv.mu; the groups c is in
	gone   bool                // guarded by srv.mu; closed: joins nothing any more

	// Touched only by OnMessage, whose calls never overlap.
	handshaken bool
	out        []byte // replies to the caller not yet written, after frameRoom bytes of room
}

var _ netpoll.Handler = (*conn)(nil)

// OnMessage handles one WebSocket message: the handshake, then whole hub
// messages (several may share a message; one never spans two). Replies to
// the caller are gathered into one frame per WebSocket message read.
func (c *conn) OnMessage(nc *netpoll.Conn, _ ws.OpCode, data []byte) {
	max := c.srv.cfg.MaxMessageSize
	if !c.handshaken {
		c.nc = nc
		rest, ok := c.handshake(data)
		if !ok {
			return
		}
		data = rest
	}
	for len(data) > 0 {
		m, rest, err := c.proto.ReadMessage(data, max)
		switch {
		case errors.Is(err, protocol.ErrUnknownType):
			data = rest
			continue
		case err != nil: // malformed, too large, or cut short
			c.fail()
			return
		}
		data = rest
		switch m := m.(type) {
		case *protocol.Invocation:
			c.invoke(m)
		case *protocol.Close:
			c.flush()
			c.nc.CloseWith(ws.StatusNormalClosure, "")
			return
		}
		// Ping needs nothing; no other message is expected here.
	}
	c.flush()
}

// OnClose takes c out of the registry and its groups.
func (c *conn) OnClose(_ *netpoll.Conn, _ error) { c.srv.remove(c) }

// handshake answers the client's first message and returns what follows it.
func (c *conn) handshake(data []byte) ([]byte, bool) {
	req, rest, err := protocol.ReadHandshake(data, c.srv.cfg.MaxMessageSize)
	if err != nil {
		c.nc.CloseWith(ws.StatusNormalClosure, "")
		return nil, false
	}
	pi := -1
	for i, p := range protocols {
		if p.Name() == req.Protocol {
			pi = i
		}
	}
	var refuse string
	switch {
	case pi < 0:
		refuse = "The protocol '" + req.Protocol + "' is not supported."
	case req.Version > protocols[pi].Version() || req.Version < 1:
		refuse = "The server does not support version " + strconv.Itoa(req.Version) + " of the '" + req.Protocol + "' protocol."
	}
	if refuse != "" {
		c.write(netpoll.AppendFrame(nil, ws.OpText, protocol.AppendHandshakeResponse(nil, refuse)))
		c.nc.CloseWith(ws.StatusNormalClosure, "")
		return nil, false
	}
	c.proto, c.pi, c.handshaken = protocols[pi], pi, true
	c.srv.add(c, netpoll.AppendFrame(nil, opFor(c.proto), protocol.AppendHandshakeResponse(nil, "")))
	return rest, true
}

// invoke runs one of the five methods. A broadcast first writes the replies
// gathered so far, so that the caller sees everything in the order a hub
// would send it.
func (c *conn) invoke(m *protocol.Invocation) {
	args, t := m.Arguments, m.Target
	switch {
	case strings.EqualFold(t, "Echo") && len(args) == 1:
		c.complete(m.InvocationID, args[0])
	case strings.EqualFold(t, "SendToAll") && len(args) == 2:
		var method string
		if c.proto.Bind(args[0], &method) != nil {
			c.completeError(m.InvocationID, errBadArgs(t))
			return
		}
		c.flush()
		c.srv.sendAll(c.proto, method, args[1])
		c.complete(m.InvocationID, nil)
	case strings.EqualFold(t, "SendToGroup") && len(args) == 3:
		var group, method string
		if c.proto.Bind(args[0], &group) != nil || c.proto.Bind(args[1], &method) != nil {
			c.completeError(m.InvocationID, errBadArgs(t))
			return
		}
		c.flush()
		c.srv.sendGroup(c.proto, group, method, args[2])
		c.complete(m.InvocationID, nil)
	case (strings.EqualFold(t, "JoinGroup") || strings.EqualFold(t, "LeaveGroup")) && len(args) == 1:
		var group string
		if c.proto.Bind(args[0], &group) != nil {
			c.completeError(m.InvocationID, errBadArgs(t))
			return
		}
		if strings.EqualFold(t, "JoinGroup") {
			c.srv.join(c, group)
		} else {
			c.srv.leave(c, group)
		}
		c.complete(m.InvocationID, nil)
	case strings.EqualFold(t, "Echo") || strings.EqualFold(t, "SendToAll") || strings.EqualFold(t, "SendToGroup") ||
		strings.EqualFold(t, "JoinGroup") || strings.EqualFold(t, "LeaveGroup"):
		c.completeError(m.InvocationID, errBadArgs(t))
	default:
		c.completeError(m.InvocationID, errNoMethod(t))
	}
}

// complete queues a Completion with result (nil is sent as null, as ASP.NET
// does for a void method). A non-blocking invocation (no id) gets nothing.
func (c *conn) complete(id string, result any) {
	if id != "" {
		c.reply(&protocol.Completion{InvocationID: id, HasResult: true, Result: result})
	}
}

func (c *conn) completeError(id, text string) {
	if id != "" {
		c.reply(&protocol.Completion{InvocationID: id, Error: text})
	}
}

func (c *conn) reply(m protocol.Message) {
	if c.out == nil {
		c.out = make([]byte, frameRoom, 256)
	}
	if out, err := c.proto.AppendMessage(c.out, m); err == nil {
		c.out = out
	}
}

// flush writes the gathered replies as one frame.
func (c *conn) flush() {
	if len(c.out) > frameRoom {
		c.write(frameAt(c.out, opFor(c.proto)))
	}
	c.out = nil
}

// fail ends the connection after a malformed message, as ASP.NET does:
// Close with the generic error (reconnecting allowed), then the WebSocket close.
func (c *conn) fail() {
	c.reply(&protocol.Close{Error: errClosed, AllowReconnect: true})
	c.flush()
	c.nc.CloseWith(ws.StatusNormalClosure, "")
}

// write queues one frame; the frame's bytes may be shared with other
// connections and are never modified afterwards. Errors mean the
// connection is closing: OnClose follows.
func (c *conn) write(frame []byte) {
	_ = c.nc.Write([][]byte{frame})
}
