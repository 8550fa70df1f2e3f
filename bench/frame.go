package bench

import (
	"encoding/binary"

	"github.com/gobwas/ws"

	"github.com/actorhub/actorhub/netpoll"
)

// Frames from the server are read with netpoll.FrameReader, the parser
// that reads actorhub's own connections (held to gobwas/ws's reader by
// netpoll's FuzzFrameReaderMatchesGobwas). This file writes what a client
// sends.

// maxMessageLen bounds one incoming message (all its fragments). A server
// that sends more is treated as broken rather than buffered without end.
const maxMessageLen = 64 << 20

// appendClientFrame appends one final, masked frame of opcode op carrying
// payload, as a client must send it (RFC 6455 §5.3).
func appendClientFrame(dst []byte, op ws.OpCode, payload []byte, key [4]byte) []byte {
	dst = append(dst, 0x80|byte(op))
	switch l := len(payload); {
	case l < 126:
		dst = append(dst, 0x80|byte(l))
	case l <= 0xFFFF:
		dst = append(dst, 0x80|126, byte(l>>8), byte(l))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(l))
	}
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	ws.Cipher(dst[start:], key, 0)
	return dst
}

// connFrames is a Conn as the FrameHandler of its frame reader.
type connFrames Conn

var _ netpoll.FrameHandler = (*connFrames)(nil)

func (c *connFrames) Message(op ws.OpCode, msg []byte) error { return (*Conn)(c).message(op, msg) }
func (c *connFrames) Control(op ws.OpCode, p []byte) error   { return (*Conn)(c).control(op, p) }

// feed parses bytes read from the connection.
func (c *Conn) feed(data []byte) error { return c.fr.Feed(data, maxMessageLen, (*connFrames)(c)) }
