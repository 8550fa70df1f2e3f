package netpoll

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// readOutcome is what a reader made of a byte stream: the frames it
// reported (data messages whole, control frames as they came) up to the
// peer's close frame or the first error, that error, and whether the
// stream ended inside a frame or a fragmented message.
type readOutcome struct {
	events  []string
	err     error
	partial bool
}

func (o readOutcome) String() string {
	return fmt.Sprintf("events %q, err %v, partial %v", o.events, o.err, o.partial)
}

// diffRecorder is the frameSink of the differential test: it stops at the
// first failure or close frame, as the reference does.
type diffRecorder struct {
	events []string
	err    error
	done   bool
}

func (s *diffRecorder) closing() bool { return s.done }

func (s *diffRecorder) message(op ws.OpCode, p []byte) bool {
	s.events = append(s.events, fmt.Sprintf("message %v %s", op, digest(p)))
	return true
}

func (s *diffRecorder) control(op ws.OpCode, p []byte) bool {
	if s.done {
		return false // the peer's close after a failure: nothing more to compare
	}
	s.events = append(s.events, fmt.Sprintf("control %v %s", op, digest(p)))
	if op == ws.OpClose {
		s.done = true
		return false
	}
	return true
}

func (s *diffRecorder) fail(_ ws.StatusCode, err error) {
	if s.err == nil {
		s.err = err
	}
	s.done = true
}

// netpollRead feeds a copy of stream to a frameReader for side, in chunks
// of the sizes cuts gives (cycled; the whole stream at once without).
func netpollRead(side ws.State, stream []byte, max int64, cuts []byte) readOutcome {
	data := bytes.Clone(stream)
	s := &diffRecorder{}
	var r frameReader
	for i := 0; len(data) > 0 && !s.done; i++ {
		k := len(data)
		if len(cuts) > 0 {
			k = min(k, max1(int(cuts[i%len(cuts)])))
		}
		r.feedAs(side, data[:k], max, s)
		data = data[k:]
	}
	if errors.Is(s.err, ErrMessageTooLarge) {
		s.err = wsutil.ErrMessageTooLarge // the same limit, by gobwas's name
	}
	return readOutcome{events: s.events, err: s.err, partial: !s.done && r.st != nil}
}

// gobwasRead reads stream with gobwas/ws's wsutil.Reader, the reference:
// RFC 6455 checks for side, MaxMessageSize max, control frames in the
// middle of a fragmented message reported as they come.
func gobwasRead(side ws.State, stream []byte, max int64) readOutcome {
	var o readOutcome
	src := bytes.NewReader(stream)
	truncated := errors.New("truncated")
	rd := &wsutil.Reader{
		Source: src, State: side, MaxMessageSize: max,
		OnIntermediate: func(h ws.Header, r io.Reader) error {
			p, err := io.ReadAll(r)
			if err == nil && int64(len(p)) != h.Length {
				err = truncated
			}
			if err == nil {
				o.events = append(o.events, fmt.Sprintf("control %v %s", h.OpCode, digest(p)))
			}
			return err
		},
	}
	for {
		if src.Len() == 0 && !rd.State.Fragmented() {
			return o // a clean end, between messages
		}
		h, err := rd.NextFrame()
		var p []byte
		if err == nil {
			p, err = io.ReadAll(rd)
			if err == nil && h.OpCode.IsControl() && int64(len(p)) != h.Length {
				err = truncated
			}
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF || err == truncated:
			o.partial = true
			return o
		case err != nil:
			o.err = err
			return o
		}
		if h.OpCode.IsControl() {
			o.events = append(o.events, fmt.Sprintf("control %v %s", h.OpCode, digest(p)))
			if h.OpCode == ws.OpClose {
				return o
			}
			continue
		}
		o.events = append(o.events, fmt.Sprintf("message %v %s", h.OpCode, digest(p)))
	}
}

// FuzzFrameReaderMatchesGobwas holds the frame parser (netpoll's, which
// package bench reads server frames with too) to gobwas/ws's reader: the
// same bytes, cut at any points, give the same frames, or the same error,
// or both stop inside the same unfinished frame. client picks the side
// that reads: a server reading masked client frames, or a client reading
// a server's unmasked ones. The seed corpus is in testdata/fuzz.
func FuzzFrameReaderMatchesGobwas(f *testing.F) {
	f.Add(readerStream(40), []byte{1, 7, 200}, false)
	f.Fuzz(func(t *testing.T, stream, cuts []byte, client bool) {
		side := ws.StateServerSide
		if client {
			side = ws.StateClientSide
		}
		for _, max := range []int64{125, 4096} {
			want := gobwasRead(side, stream, max)
			for _, c := range [][]byte{nil, cuts, {1}} {
				if got := netpollRead(side, stream, max, c); got.String() != want.String() {
					t.Fatalf("max %d, cut %v:\n got %v\nwant %v", max, c, got, want)
				}
			}
		}
	})
}
