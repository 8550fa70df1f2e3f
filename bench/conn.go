package bench

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/actorhub/actorhub/netpoll"
	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// Connection states during set-up.
const (
	stateHandshake = iota // waiting for the handshake reply
	stateReady            // handshake done
	stateJoined           // handshake done and the JoinGroup completed
)

// joinID is the invocation id of the JoinGroup made during set-up; timed
// invocations use nanosecond timestamps, which never collide with it.
const joinID = "1"

// Conn is one client connection of a Pool. Its reading state belongs to
// the loop that serves it (to the dialing goroutine before that); writes
// may come from any goroutine and are serialized by wmu.
type Conn struct {
	pool  *Pool
	loop  *loop
	fd    int
	index int // position in the pool, set when it is added

	// Owned by the reading goroutine.
	fr    netpoll.FrameReader
	state int
	now   time.Time // when the bytes being parsed were read
	err   error     // set by a record that ends the connection

	wmu    sync.Mutex
	closed bool // guarded by wmu; the fd is closed and may be reused
}

// Index is the connection's position in its pool, from 0.
func (c *Conn) Index() int { return c.index }

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func maskKey() [4]byte {
	v := rand.Uint32()
	return [4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
}

// Send sends a non-blocking invocation (no Completion comes back).
func (c *Conn) Send(target string, args ...string) error {
	return c.invoke("", target, args)
}

// InvokeTimed sends an invocation whose Completion is timed: its round
// trip goes into the RTT histogram and Config.OnCompletion is called.
func (c *Conn) InvokeTimed(target string, args ...string) error {
	return c.invoke(strconv.FormatInt(time.Now().UnixNano(), 10), target, args)
}

func (c *Conn) invoke(id, target string, args []string) error {
	bp := bufPool.Get().(*[]byte)
	b := appendInvocation((*bp)[:0], c.pool.cfg.Protocol, id, target, args...)
	err := c.write(b, time.Now().Add(c.pool.cfg.WriteTimeout))
	*bp = b
	bufPool.Put(bp)
	return err
}

// write frames one hub-protocol payload as a data message and sends it.
func (c *Conn) write(payload []byte, deadline time.Time) error {
	op := ws.OpText
	if c.pool.cfg.Protocol == MessagePack {
		op = ws.OpBinary
	}
	return c.writeFrame(op, payload, deadline)
}

func (c *Conn) writeFrame(op ws.OpCode, payload []byte, deadline time.Time) error {
	bp := bufPool.Get().(*[]byte)
	f := appendClientFrame((*bp)[:0], op, payload, maskKey())
	c.wmu.Lock()
	var err error
	if c.closed {
		err = ErrClosed
	} else {
		_, err = writeFD(c.fd, f, deadline)
	}
	c.wmu.Unlock()
	*bp = f
	bufPool.Put(bp)
	return err
}

// message handles one complete WebSocket data message.
func (c *Conn) message(_ ws.OpCode, msg []byte) error {
	if c.state == stateHandshake {
		i := bytes.IndexByte(msg, recordSeparator)
		if i < 0 {
			return errors.New("bench: handshake reply without 0x1E")
		}
		if err := parseHandshakeResponse(msg[:i]); err != nil {
			return err
		}
		c.state = stateReady
		msg = msg[i+1:]
	}
	return eachRecord(c.pool.cfg.Protocol, msg, c)
}

// control handles a control frame.
func (c *Conn) control(op ws.OpCode, payload []byte) error {
	switch op {
	case ws.OpPing:
		return c.writeFrame(ws.OpPong, payload, time.Now().Add(c.pool.cfg.WriteTimeout))
	case ws.OpClose:
		c.err = fmt.Errorf("bench: the server sent a WebSocket close frame %q", payload)
	}
	return nil
}

// onRecord counts one hub message.
func (c *Conn) onRecord(r *record) error {
	l := c.loop
	switch r.typ {
	case typeInvocation:
		l.delivered.Add(1)
		if ts, ok := stampOf(r.arg0); ok {
			l.latency.record(c.now.Sub(time.Unix(0, ts)))
		}
	case typeCompletion:
		if string(r.id) == joinID && c.state < stateJoined {
			if r.failed {
				c.err = errors.New("bench: JoinGroup failed")
				return nil
			}
			c.state = stateJoined
			return nil
		}
		ts, n := leadingInt(r.id)
		if n == 0 || n != len(r.id) {
			return nil
		}
		l.rtt.record(c.now.Sub(time.Unix(0, ts)))
		l.completions.Add(1)
		if r.failed {
			l.failures.Add(1)
		}
		if f := c.pool.cfg.OnCompletion; f != nil {
			f(c, r.failed)
		}
	case typeClose:
		c.err = errors.New("bench: the server sent a Close message")
	}
	return nil
}

// drop closes a connection that failed after set-up and counts it.
func (c *Conn) drop(err error) {
	if c.close() {
		c.pool.dropped.Add(1)
		c.pool.fail(err)
	}
}

// close closes the socket once; it reports whether this call closed it.
func (c *Conn) close() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return false
	}
	c.closed = true
	c.pool.byFD[c.fd].CompareAndSwap(c, nil)
	unix.Close(c.fd)
	return true
}
