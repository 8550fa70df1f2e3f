package backplane

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// The Redis Cluster engine's subscription connections speak RESP2
// themselves: go-redis' PubSub subscribes again, after a reconnect, to
// all its sharded channels in one SSUBSCRIBE, which a cluster refuses
// (CROSSSLOT) as soon as they live in different slots, and it cannot move
// a channel to the node that took over its slot. A shardConn is one
// connection to one master, carrying SSUBSCRIBE / SUNSUBSCRIBE / PING
// one command each and reading the pushes.

// slotCount is the number of hash slots of a Redis Cluster.
const slotCount = 16384

// crc16Table is CRC-16/XMODEM (polynomial 0x1021), the checksum Redis
// Cluster hashes keys with.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// keySlot is the hash slot of a key or sharded channel: CRC16 of the key,
// or of its hash tag (the part between the first "{" and the next "}",
// when not empty), modulo 16384.
func keySlot(key string) int {
	if i := indexByte(key, '{'); i >= 0 {
		if j := indexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^key[k]]
	}
	return int(crc) % slotCount
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// push is one reply read from a subscription connection: a pub/sub push
// (kind "smessage", "ssubscribe", "sunsubscribe", "pong") or an error
// reply (kind "error", the text in payload). payload is valid until the
// next read.
type push struct {
	kind    string
	channel []byte
	payload []byte
}

// shardConn is one subscription connection to one master. Writes are
// serialised by wmu (the subscribe loop and the ping loop write); reads
// belong to the connection's reader goroutine.
type shardConn struct {
	addr string
	nc   net.Conn
	r    *bufio.Reader

	wmu sync.Mutex // guards w and writes to nc
	w   *bufio.Writer

	opTimeout time.Duration
	bufs      [3][]byte // the elements of the last reply read, reused
}

// dialShard connects to addr and authenticates when user or password are
// set.
func dialShard(addr, user, password string, dialTimeout, opTimeout time.Duration) (*shardConn, error) {
	nc, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		return nil, err
	}
	c := &shardConn{addr: addr, nc: nc, r: bufio.NewReaderSize(nc, 32<<10), w: bufio.NewWriterSize(nc, 4<<10), opTimeout: opTimeout}
	if password != "" {
		args := []string{"AUTH", password}
		if user != "" {
			args = []string{"AUTH", user, password}
		}
		if err := c.send(args...); err != nil {
			nc.Close()
			return nil, err
		}
		_ = nc.SetReadDeadline(time.Now().Add(opTimeout))
		p, err := c.read()
		if err == nil && p.kind == "error" {
			err = errors.New(string(p.payload))
		}
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("AUTH: %w", err)
		}
	}
	return c, nil
}

// send writes one command and flushes it.
func (c *shardConn) send(args ...string) error {
	if err := c.write(args...); err != nil {
		return err
	}
	return c.flush()
}

// flush sends what write buffered, within opTimeout.
func (c *shardConn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.w.Buffered() == 0 {
		return nil
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.opTimeout))
	return c.w.Flush()
}

// write buffers one command; a full buffer is sent within opTimeout.
func (c *shardConn) write(args ...string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.opTimeout))
	c.w.WriteByte('*')
	c.w.WriteString(strconv.Itoa(len(args)))
	c.w.WriteString("\r\n")
	for _, a := range args {
		c.w.WriteByte('$')
		c.w.WriteString(strconv.Itoa(len(a)))
		c.w.WriteString("\r\n")
		c.w.WriteString(a)
		c.w.WriteString("\r\n")
	}
	_, err := c.w.WriteString("") // a bufio.Writer's error sticks: this returns the first
	return err
}

func (c *shardConn) close() { c.nc.Close() }

// errProtocol: the server sent what a subscription connection does not
// expect.
var errProtocol = errors.New("backplane: redis protocol error")

// read reads one reply. The connection is in subscribed mode, so every
// reply is an array of bulk strings and integers ([kind, channel,
// payload-or-count]), or an error; PING answers ["pong", ""].
func (c *shardConn) read() (push, error) {
	if cap(c.bufs[2]) > 1<<20 { // a large message passed: do not keep its buffer
		c.bufs[2] = nil
	}
	line, err := c.line()
	if err != nil {
		return push{}, err
	}
	switch line[0] {
	case '-':
		c.bufs[2] = append(c.bufs[2][:0], line[1:]...)
		return push{kind: "error", payload: c.bufs[2]}, nil
	case '+': // a simple string: AUTH's +OK
		return push{kind: "ok"}, nil
	case '*':
	default:
		return push{}, fmt.Errorf("%w: reply starts with %q", errProtocol, line[0])
	}
	n, err := strconv.Atoi(string(line[1:]))
	if err != nil || n < 1 || n > 3 {
		return push{}, fmt.Errorf("%w: array of %q", errProtocol, line[1:])
	}
	var p push
	for i := range n {
		line, err := c.line()
		if err != nil {
			return push{}, err
		}
		var v []byte
		switch line[0] {
		case ':':
			v = line[1:]
		case '$':
			size, err := strconv.Atoi(string(line[1:]))
			if err != nil || size < -1 || size > 1<<30 {
				return push{}, fmt.Errorf("%w: bulk of %q", errProtocol, line[1:])
			}
			if size < 0 {
				break
			}
			if cap(c.bufs[i]) < size+2 {
				c.bufs[i] = make([]byte, size+2)
			}
			v = c.bufs[i][:size+2]
			if _, err := io.ReadFull(c.r, v); err != nil {
				return push{}, err
			}
			if v[size] != '\r' || v[size+1] != '\n' {
				return push{}, fmt.Errorf("%w: bulk without CRLF", errProtocol)
			}
			v = v[:size]
		default:
			return push{}, fmt.Errorf("%w: element starts with %q", errProtocol, line[0])
		}
		switch i {
		case 0:
			p.kind = kindName(v)
		case 1:
			p.channel = v
		case 2:
			p.payload = v
		}
	}
	return p, nil
}

// kindName returns the push kinds as constants, so reading a message
// allocates no string for its kind.
func kindName(v []byte) string {
	switch string(v) {
	case "smessage":
		return "smessage"
	case "ssubscribe":
		return "ssubscribe"
	case "sunsubscribe":
		return "sunsubscribe"
	case "pong":
		return "pong"
	}
	return string(v)
}

// line reads one CRLF-terminated line, without the CRLF; it is valid
// until the next read.
func (c *shardConn) line() ([]byte, error) {
	b, err := c.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: line too long", errProtocol)
		}
		return nil, err
	}
	if len(b) < 3 || b[len(b)-2] != '\r' {
		return nil, fmt.Errorf("%w: bad line %q", errProtocol, b)
	}
	return b[:len(b)-2], nil
}
