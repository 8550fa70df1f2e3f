package bench

import (
	"encoding/binary"
	"errors"
)

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxFrameLen bounds one incoming frame or reassembled message. A server
// that sends more is treated as broken rather than buffered without end.
const maxFrameLen = 64 << 20

var (
	errFrameTooLong = errors.New("bench: frame longer than 64 MiB")
	errBadFrame     = errors.New("bench: malformed WebSocket frame")
)

// frameHeader is a parsed WebSocket frame header.
type frameHeader struct {
	fin    bool
	op     byte
	masked bool
	mask   [4]byte
	length int
}

// parseFrameHeader reads the frame header at the start of b. It returns
// the header and its length in bytes, or n == 0 when b does not yet hold
// the whole header. Servers send unmasked frames; a masked one is accepted
// and unmasked by the caller.
func parseFrameHeader(b []byte) (h frameHeader, n int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	h.fin = b[0]&0x80 != 0
	if b[0]&0x70 != 0 {
		return h, 0, errBadFrame // no extension is negotiated, so RSV bits must be 0
	}
	h.op = b[0] & 0x0F
	h.masked = b[1]&0x80 != 0
	n = 2
	l := uint64(b[1] & 0x7F)
	switch l {
	case 126:
		if len(b) < 4 {
			return h, 0, nil
		}
		l = uint64(binary.BigEndian.Uint16(b[2:]))
		n = 4
	case 127:
		if len(b) < 10 {
			return h, 0, nil
		}
		l = binary.BigEndian.Uint64(b[2:])
		n = 10
	}
	if l > maxFrameLen {
		return h, 0, errFrameTooLong
	}
	if h.op >= 0x8 && (l > 125 || !h.fin) {
		return h, 0, errBadFrame // control frames are short and never fragmented
	}
	h.length = int(l)
	if h.masked {
		if len(b) < n+4 {
			return h, 0, nil
		}
		copy(h.mask[:], b[n:n+4])
		n += 4
	}
	return h, n, nil
}

// maskBytes XORs b with the mask key, starting at key position pos.
func maskBytes(b []byte, key [4]byte, pos int) {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
}

// appendClientFrame appends one final, masked frame of opcode op carrying
// payload, as a client must send it (RFC 6455 §5.3).
func appendClientFrame(dst []byte, op byte, payload []byte, key [4]byte) []byte {
	dst = append(dst, 0x80|op)
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
	maskBytes(dst[start:], key, 0)
	return dst
}

// frameReader reassembles WebSocket messages from bytes that arrive in
// arbitrary pieces. It holds bytes only while a frame or a fragmented
// message is incomplete, so an idle connection costs it nothing.
type frameReader struct {
	partial []byte // an incomplete frame's bytes; nil when none
	frag    []byte // a fragmented message so far; nil when none
	fragOp  byte
}

// frameHandler receives what a frameReader parses. The slices passed are
// valid only until the call returns.
type frameHandler interface {
	message(op byte, msg []byte) error     // a complete text or binary message
	control(op byte, payload []byte) error // a close, ping or pong frame
}

// feed parses data, calling h for each complete message and control
// frame. data may be modified (unmasking).
func (r *frameReader) feed(data []byte, h frameHandler) error {
	if len(r.partial) > 0 {
		r.partial = append(r.partial, data...)
		data = r.partial
	}
	for {
		fh, n, err := parseFrameHeader(data)
		if err != nil {
			return err
		}
		if n == 0 || len(data)-n < fh.length {
			break
		}
		payload := data[n : n+fh.length]
		data = data[n+fh.length:]
		if fh.masked {
			maskBytes(payload, fh.mask, 0)
		}
		switch fh.op {
		case opText, opBinary:
			if r.frag != nil {
				return errBadFrame // a new message before the last one ended
			}
			if !fh.fin {
				r.frag = append(make([]byte, 0, 2*len(payload)+64), payload...)
				r.fragOp = fh.op
				continue
			}
			if err := h.message(fh.op, payload); err != nil {
				return err
			}
		case opContinuation:
			if r.frag == nil {
				return errBadFrame
			}
			if len(r.frag)+len(payload) > maxFrameLen {
				return errFrameTooLong
			}
			r.frag = append(r.frag, payload...)
			if fh.fin {
				msg, op := r.frag, r.fragOp
				r.frag = nil
				if err := h.message(op, msg); err != nil {
					return err
				}
			}
		case opClose, opPing, opPong:
			if err := h.control(fh.op, payload); err != nil {
				return err
			}
		default:
			return errBadFrame
		}
	}
	switch {
	case len(data) == 0:
		r.partial = nil
	case len(r.partial) > 0 && &data[0] == &r.partial[len(r.partial)-len(data)]:
		// The rest already sits at the end of partial: move it to the front.
		r.partial = r.partial[:copy(r.partial, data)]
	default:
		r.partial = append(make([]byte, 0, len(data)+512), data...)
	}
	return nil
}
