package netpoll

import (
	"encoding/binary"

	"github.com/gobwas/ws"
)

// frameSink receives what a frameReader decodes; *Conn is the one in use.
// Payloads are unmasked and valid until the call returns. A method returns
// false to stop the reader for this batch of bytes.
type frameSink interface {
	// closing reports that our close frame is queued: payloads are skipped
	// and only the peer's close frame still matters.
	closing() bool
	// message receives a complete data message.
	message(op ws.OpCode, p []byte) bool
	// control receives a ping, pong or close frame. In closing mode it gets
	// the peer's close frame with a nil payload.
	control(op ws.OpCode, p []byte) bool
	// fail reports a protocol violation; closing must report true after it.
	fail(code ws.StatusCode, err error)
}

// frameReader parses frames incrementally from whatever byte runs the
// socket delivers: a client's frames (masked) for a Conn, or a server's
// (unmasked) for a FrameReader. Between frames of a connection that has
// nothing partial it holds nothing: st is allocated only while a header, a
// frame or a fragmented message is unfinished, and dropped when it
// completes. It is the one WebSocket frame parser of this module:
// FuzzFrameReaderMatchesGobwas holds it to gobwas/ws's reader.
type frameReader struct {
	st *readState
}

// readState is what a frameReader keeps while something is unfinished.
type readState struct {
	pre  []byte                 // bytes handed to Register, fed before the socket's
	hdr  [ws.MaxHeaderSize]byte // an incomplete header
	nhdr int                    // bytes in hdr
	in   bool                   // inside h's payload
	skip bool                   // h's payload is dropped (closing)
	frag bool                   // inside a data message whose final frame has not ended
	junk bool                   // the stream cannot be parsed any more: drop every byte
	op   ws.OpCode              // opcode of the message being assembled
	h    ws.Header              // the frame being read
	pos  int64                  // payload bytes of h read so far
	msg  []byte                 // the data message being assembled, unmasked
	ctl  []byte                 // the control frame being assembled, unmasked
}

const (
	modeRead = iota // deliver the frame
	modeSkip        // drop its payload
	modeStop        // stop reading
)

// feed parses a client's data (unmasking it in place) and reports frames to
// s. max is the largest message payload accepted.
func (r *frameReader) feed(data []byte, max int64, s frameSink) {
	r.feedAs(ws.StateServerSide, data, max, s)
}

// feedAs is feed for the side that reads: ws.StateServerSide reads a
// client's frames, which must be masked; ws.StateClientSide a server's,
// which must not be.
func (r *frameReader) feedAs(side ws.State, data []byte, max int64, s frameSink) {
	defer r.tidy()
	for len(data) > 0 {
		if st := r.st; st != nil && st.junk {
			return
		} else if st != nil && st.in {
			var ok bool
			if data, ok = r.more(data, s); !ok {
				return
			}
			continue
		}
		h, rest, ok := r.header(data, s)
		if !ok {
			return
		}
		data = rest
		mode := r.begin(side, h, max, s)
		if mode == modeStop {
			return
		}
		if h.Length <= int64(len(data)) { // the whole payload is here
			p := data[:h.Length]
			data = data[h.Length:]
			if mode == modeSkip {
				continue
			}
			if h.Masked {
				ws.Cipher(p, h.Mask, 0)
			}
			if !r.frame(h, p, s) {
				return
			}
			continue
		}
		st := r.state()
		st.h, st.in, st.skip, st.pos = h, true, mode == modeSkip, 0
		if mode == modeRead {
			if h.OpCode.IsControl() {
				st.ctl = make([]byte, 0, h.Length) // <= 125: checked
			} else if h.OpCode != ws.OpContinuation {
				st.op, st.frag = h.OpCode, true
			}
		}
	}
}

// header takes the next frame header from the bytes of an incomplete one
// (in st.hdr) and data. ok is false when the header is still incomplete
// (its bytes are kept) or cannot be parsed.
func (r *frameReader) header(data []byte, s frameSink) (h ws.Header, rest []byte, ok bool) {
	if st := r.st; st != nil && st.nhdr > 0 {
		k := copy(st.hdr[st.nhdr:], data)
		h, n, err := parseHeader(st.hdr[:st.nhdr+k])
		switch {
		case err != nil:
			r.junk(s, err)
			return h, nil, false
		case n == 0: // data was shorter than the rest of the header
			st.nhdr += k
			return h, nil, false
		}
		rest = data[n-st.nhdr:]
		st.nhdr = 0
		return h, rest, true
	}
	h, n, err := parseHeader(data)
	switch {
	case err != nil:
		r.junk(s, err)
		return h, nil, false
	case n == 0:
		st := r.state()
		st.nhdr = copy(st.hdr[:], data)
		return h, nil, false
	}
	return h, data[n:], true
}

// begin checks a new frame's header and decides what to do with it.
func (r *frameReader) begin(side ws.State, h ws.Header, max int64, s frameSink) int {
	if !s.closing() {
		code, err := r.check(side, h, max)
		if err == nil {
			return modeRead
		}
		s.fail(code, err)
	}
	// Closing: only the peer's close frame matters.
	if st := r.st; st != nil {
		st.msg, st.frag = nil, false
	}
	if h.OpCode == ws.OpClose {
		s.control(ws.OpClose, nil)
		return modeStop
	}
	return modeSkip
}

// check validates a frame header against RFC 6455, for the side that
// reads, and max.
func (r *frameReader) check(side ws.State, h ws.Header, max int64) (ws.StatusCode, error) {
	state := side
	var have int64
	if st := r.st; st != nil && st.frag {
		state |= ws.StateFragmented
		have = int64(len(st.msg))
	}
	if err := ws.CheckHeader(h, state); err != nil {
		return ws.StatusProtocolError, err
	}
	if h.OpCode.IsData() && h.Length > max-have {
		return ws.StatusMessageTooBig, ErrMessageTooLarge
	}
	return 0, nil
}

// frame handles a frame whose whole (unmasked) payload p is at hand.
func (r *frameReader) frame(h ws.Header, p []byte, s frameSink) bool {
	if h.OpCode.IsControl() {
		return s.control(h.OpCode, p)
	}
	st := r.st
	if st == nil || !st.frag {
		if h.Fin {
			return s.message(h.OpCode, p) // zero copy: p is in the read buffer
		}
		st = r.state()
		st.op, st.frag = h.OpCode, true
	}
	st.msg = append(st.msg, p...)
	return r.end(h, s)
}

// more consumes payload bytes of the frame in progress.
func (r *frameReader) more(data []byte, s frameSink) ([]byte, bool) {
	st := r.st
	k := int(min(st.h.Length-st.pos, int64(len(data))))
	p := data[:k]
	data = data[k:]
	if !st.skip {
		if st.h.Masked {
			ws.Cipher(p, st.h.Mask, int(st.pos))
		}
		if st.h.OpCode.IsControl() {
			st.ctl = append(st.ctl, p...)
		} else {
			st.msg = append(st.msg, p...) // grows as bytes arrive, never by the declared length
		}
	}
	st.pos += int64(k)
	if st.pos < st.h.Length {
		return data, true
	}
	st.in = false
	switch {
	case st.skip:
		return data, true
	case st.h.OpCode.IsControl():
		ctl := st.ctl
		st.ctl = nil
		return data, s.control(st.h.OpCode, ctl)
	}
	return data, r.end(st.h, s)
}

// end finishes a data frame whose payload is in st.msg.
func (r *frameReader) end(h ws.Header, s frameSink) bool {
	if !h.Fin {
		return true
	}
	st := r.st
	msg := st.msg
	st.msg, st.frag = nil, false
	return s.message(st.op, msg)
}

// junk gives up on a stream whose header cannot be parsed.
func (r *frameReader) junk(s frameSink, err error) {
	if !s.closing() {
		s.fail(ws.StatusProtocolError, err)
	}
	st := r.state()
	*st = readState{junk: true}
}

// state returns st, allocating it.
func (r *frameReader) state() *readState {
	if r.st == nil {
		r.st = &readState{}
	}
	return r.st
}

// tidy drops st once nothing is unfinished.
func (r *frameReader) tidy() {
	st := r.st
	if st != nil && !st.in && !st.frag && !st.junk && st.nhdr == 0 && st.pre == nil {
		r.st = nil
	}
}

// parseHeader parses a frame header at the start of b. n is the header's
// size, 0 if b does not hold all of it yet.
func parseHeader(b []byte) (h ws.Header, n int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = (b[0] & 0x70) >> 4
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
	l := b[1] & 0x7f
	n = 2
	switch l {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h.Masked {
		n += 4
	}
	if len(b) < n {
		return h, 0, nil
	}
	switch l {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		v := binary.BigEndian.Uint64(b[2:])
		if v>>63 != 0 {
			return h, 0, ws.ErrHeaderLengthMSB
		}
		h.Length = int64(v)
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		copy(h.Mask[:], b[n-4:n])
	}
	return h, n, nil
}

// FrameReader reads the frames a WebSocket server sends (unmasked) from
// byte runs of any size, with the parser that reads a Conn's client frames:
// for clients that do their own I/O (package bench's load generator). It
// holds memory only while a frame or a fragmented message is unfinished.
// The zero value is ready to use.
type FrameReader struct {
	r    frameReader
	sink frameHandlerSink
	err  error // the first error: the stream cannot be read any more
}

// FrameHandler receives what a FrameReader decodes. Payloads are unmasked
// and valid only until the call returns. An error stops the reader: Feed
// returns it, and every later Feed too.
type FrameHandler interface {
	// Message receives a complete data message (its fragments joined).
	Message(op ws.OpCode, p []byte) error
	// Control receives a ping, pong or close frame.
	Control(op ws.OpCode, p []byte) error
}

// Feed parses data, which it may modify, and hands h every complete message
// and control frame. max bounds a message's payload (all its fragments);
// past it Feed fails with ErrMessageTooLarge. A frame that breaks RFC 6455
// fails it with the ws.ProtocolError that gobwas/ws names it by. After an
// error, Feed returns that error and reads nothing more.
func (f *FrameReader) Feed(data []byte, max int64, h FrameHandler) error {
	if f.err != nil {
		return f.err
	}
	f.sink = frameHandlerSink{h: h}
	f.r.feedAs(ws.StateClientSide, data, max, &f.sink)
	f.err, f.sink = f.sink.err, frameHandlerSink{}
	return f.err
}

// frameHandlerSink adapts a FrameHandler to the frameReader: the first
// error stops the reader, and it reads nothing more.
type frameHandlerSink struct {
	h   FrameHandler
	err error
}

func (s *frameHandlerSink) closing() bool { return s.err != nil }

func (s *frameHandlerSink) message(op ws.OpCode, p []byte) bool {
	if s.err == nil {
		s.err = s.h.Message(op, p)
	}
	return s.err == nil
}

func (s *frameHandlerSink) control(op ws.OpCode, p []byte) bool {
	if s.err == nil {
		s.err = s.h.Control(op, p)
	}
	return s.err == nil
}

func (s *frameHandlerSink) fail(_ ws.StatusCode, err error) {
	if s.err == nil {
		s.err = err
	}
}
