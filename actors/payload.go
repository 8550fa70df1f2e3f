package actors

import (
	"fmt"
	"sync"
	"time"

	"github.com/actorhub/actorhub/protocol"
	"github.com/gobwas/ws"
)

// maxProtocols bounds the hub protocols one engine speaks (JSON, MessagePack).
const maxProtocols = 4

// wsHeaderRoom is the room kept in front of an encoded message for the
// largest WebSocket frame header a server writes (no mask).
const wsHeaderRoom = ws.MaxHeaderSize - 4

// Payload is a hub message on its way to many connections. It is encoded at
// most once per protocol in use, lazily, by the first recipient that needs
// that protocol, together with its WebSocket frame header; every recipient of
// that protocol then shares the same bytes. A Payload is immutable once made.
type Payload struct {
	msg     protocol.Message
	exclude []string  // connection ids that must not receive it
	seen    *sync.Map // set when it may reach a connection through several groups: who had it
	skip    []string  // group keys whose members had it another way (see FromEncoded)
	size    int       // bytes of its first encoding, once known (Prepare, FromEncoded): what queues count
	remote  bool      // it came from another node: its delivery never waits (see groupqueue.go)
	enc     [maxProtocols]encoding
}

type encoding struct {
	once  sync.Once
	buf   []byte // wsHeaderRoom bytes of room, then the encoded message
	start int    // where the WebSocket frame starts in buf
	err   error
}

// NewPayload prepares msg for delivery. Connections whose id is in exclude
// skip it.
func NewPayload(msg protocol.Message, exclude ...string) *Payload {
	return &Payload{msg: msg, exclude: exclude}
}

// Prepare encodes p now for the engine's first protocol, so that a value
// that cannot be encoded is the sender's error rather than a loss at every
// recipient. Recipients of that protocol reuse the bytes.
func (e *Engine) Prepare(p *Payload) error {
	b, err := p.bytes(0, e.cfg.Protocols[0], false)
	p.size = len(b)
	return err
}

// FromEncoded makes a payload of a hub message another node encoded:
// encoded holds its bytes by protocol name, framing included, as Encoded
// returns them. Connections whose id is in exclude skip it, and so do the
// members of any of the group keys in skip. A recipient whose protocol has
// no bytes gets nothing (and it is logged). The bytes are copied once, with
// room for each WebSocket frame header.
func (e *Engine) FromEncoded(encoded map[string][]byte, exclude, skip []string) *Payload {
	// Every message between nodes is an invocation; msg says so to the
	// stateful reconnect tracking, the bytes come from the other node.
	e.stats.lastRemote.Store(time.Now().UnixNano())
	p := &Payload{msg: remoteInvocation, exclude: exclude, skip: skip, remote: true}
	for i, proto := range e.cfg.Protocols {
		enc := &p.enc[i]
		enc.once.Do(func() {
			b, ok := encoded[proto.Name()]
			if !ok {
				enc.err = fmt.Errorf("actors: no %s encoding in a message from another node", proto.Name())
				return
			}
			enc.buf = append(make([]byte, wsHeaderRoom, wsHeaderRoom+len(b)), b...)
			enc.start = putHeader(enc.buf, proto)
		})
		if p.size == 0 {
			p.size = len(encoded[proto.Name()])
		}
	}
	return p
}

var remoteInvocation = &protocol.Invocation{}

// Encoded encodes p in every protocol of the engine (those not yet
// encoded) and returns the bytes by protocol name, framing included, for
// another node's FromEncoded. The bytes are p's own: do not modify them.
func (e *Engine) Encoded(p *Payload) (map[string][]byte, error) {
	out := make(map[string][]byte, len(e.cfg.Protocols))
	for i, proto := range e.cfg.Protocols {
		b, err := p.bytes(i, proto, false)
		if err != nil {
			return nil, err
		}
		out[proto.Name()] = b
	}
	return out, nil
}

// skips reports whether c is a member of a group key p skips.
func (p *Payload) skips(c *Conn) bool {
	for _, key := range p.skip {
		if c.InGroup(key) {
			return true
		}
	}
	return false
}

// excludes reports whether the connection id is excluded.
func (p *Payload) excludes(id string) bool {
	for _, x := range p.exclude {
		if x == id {
			return true
		}
	}
	return false
}

// bytes returns the encoded message for protocol slot i: with framed, as a
// whole WebSocket frame; otherwise the bare hub message.
func (p *Payload) bytes(i int, proto protocol.Protocol, framed bool) ([]byte, error) {
	e := &p.enc[i]
	e.once.Do(func() { e.buf, e.start, e.err = encodeFrame(proto, p.msg) })
	if e.err != nil {
		return nil, e.err
	}
	if framed {
		return e.buf[e.start:], nil
	}
	return e.buf[wsHeaderRoom:], nil
}

// encodeFrame encodes msg after wsHeaderRoom bytes and writes the WebSocket
// frame header right before it, so one buffer serves framed and bare use.
func encodeFrame(proto protocol.Protocol, msg protocol.Message) (buf []byte, start int, err error) {
	buf = make([]byte, wsHeaderRoom, wsHeaderRoom+128)
	buf, err = proto.AppendMessage(buf, msg)
	if err != nil {
		return nil, 0, err
	}
	return buf, putHeader(buf, proto), nil
}

// putHeader writes the frame header for buf[wsHeaderRoom:] into the room in
// front of it and returns where the frame starts.
func putHeader(buf []byte, proto protocol.Protocol) int {
	op := ws.OpText
	if proto.TransferFormat() == protocol.Binary {
		op = ws.OpBinary
	}
	n := len(buf) - wsHeaderRoom
	h := ws.Header{Fin: true, OpCode: op, Length: int64(n)}
	start := wsHeaderRoom - headerSize(n)
	w := fixedWriter{buf: buf[start:wsHeaderRoom]}
	_ = ws.WriteHeader(&w, h)
	return start
}

func headerSize(n int) int {
	switch {
	case n < 126:
		return 2
	case n < 65536:
		return 4
	default:
		return 10
	}
}

type fixedWriter struct {
	buf []byte
	n   int
}

func (w *fixedWriter) Write(p []byte) (int, error) {
	w.n += copy(w.buf[w.n:], p)
	return len(p), nil
}
