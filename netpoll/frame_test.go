package netpoll

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

func TestAppendFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		payload := bytes.Repeat([]byte{'p'}, n)
		for _, op := range []ws.OpCode{ws.OpText, ws.OpBinary, ws.OpPing, ws.OpClose} {
			want, err := ws.CompileFrame(ws.NewFrame(op, true, payload))
			if err != nil {
				t.Fatal(err)
			}
			got := AppendFrame(nil, op, payload)
			if !bytes.Equal(got, want) {
				t.Fatalf("AppendFrame(%v, %d bytes) = % x..., want % x...", op, n, got[:min(12, len(got))], want[:min(12, len(want))])
			}
			if h := FrameHeaderLen(n); h != len(want)-n {
				t.Fatalf("FrameHeaderLen(%d) = %d, want %d", n, h, len(want)-n)
			}
			if h := AppendFrameHeader(nil, op, n); !bytes.Equal(h, want[:len(want)-n]) {
				t.Fatalf("AppendFrameHeader(%v, %d) = % x", op, n, h)
			}
		}
	}
	// Appends after what dst holds, in place when there is room.
	dst := make([]byte, 3, 64)
	out := AppendFrame(dst, ws.OpText, []byte("hi"))
	if &out[0] != &dst[0] || !bytes.Equal(out, []byte{0, 0, 0, 0x81, 2, 'h', 'i'}) {
		t.Fatalf("AppendFrame(dst) = % x", out)
	}
}

func TestParseHeader(t *testing.T) {
	for _, n := range []int{0, 5, 125, 126, 65535, 65536, 1 << 33} {
		for _, masked := range []bool{false, true} {
			h := ws.Header{Fin: n%2 == 0, Rsv: 2, OpCode: ws.OpBinary, Masked: masked, Length: int64(n)}
			if masked {
				h.Mask = [4]byte{1, 2, 3, 4}
			}
			var buf bytes.Buffer
			if err := ws.WriteHeader(&buf, h); err != nil {
				t.Fatal(err)
			}
			b := buf.Bytes()
			for i := range len(b) {
				if _, hl, err := parseHeader(b[:i]); hl != 0 || err != nil {
					t.Fatalf("parseHeader of %d of %d bytes: %d, %v", i, len(b), hl, err)
				}
			}
			got, hl, err := parseHeader(append(b, 0xaa))
			if err != nil || hl != len(b) || got != h {
				t.Fatalf("parseHeader = %+v, %d, %v; want %+v, %d", got, hl, err, h, len(b))
			}
		}
	}
	if _, _, err := parseHeader([]byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}); err != ws.ErrHeaderLengthMSB {
		t.Fatalf("length with the MSB set: %v", err)
	}
}

func TestCloseFrame(t *testing.T) {
	if f := closeFrame(0, "ignored"); !bytes.Equal(f, []byte{0x88, 0}) {
		t.Fatalf("closeFrame(0) = % x", f)
	}
	f := closeFrame(ws.StatusGoingAway, strings.Repeat("€", 50)) // 150 bytes of reason
	body := f[2:]
	if len(body) > ws.MaxControlFramePayloadSize {
		t.Fatalf("close body of %d bytes", len(body))
	}
	code, reason := ws.ParseCloseFrameData(body)
	if code != ws.StatusGoingAway || ws.CheckCloseFrameData(code, reason) != nil || len(reason) != 123/3*3 {
		t.Fatalf("close %d %q", code, reason)
	}
	for _, tc := range []struct {
		body []byte
		code ws.StatusCode
		ok   bool
	}{
		{body: nil, code: 0, ok: true},
		{body: []byte{3}, ok: false},
		{body: binary.BigEndian.AppendUint16(nil, 1000), code: 1000, ok: true},
		{body: binary.BigEndian.AppendUint16(nil, 4000), code: 4000, ok: true},
		{body: binary.BigEndian.AppendUint16(nil, 1006), ok: false},
		{body: binary.BigEndian.AppendUint16(nil, 999), ok: false},
		{body: append(binary.BigEndian.AppendUint16(nil, 1000), 0xff), ok: false},
	} {
		code, err := parseCloseBody(tc.body)
		if (err == nil) != tc.ok || code != tc.code {
			t.Errorf("parseCloseBody(% x) = %d, %v", tc.body, code, err)
		}
	}
}

// sinkRecorder is a frameSink that writes down what it receives.
type sinkRecorder struct {
	events  []string
	closed  bool // closing() reports it
	stopped bool // the peer's close frame came: the Conn would be released
}

func (s *sinkRecorder) closing() bool { return s.closed }

func (s *sinkRecorder) message(op ws.OpCode, p []byte) bool {
	s.events = append(s.events, fmt.Sprintf("message %v %s", op, digest(p)))
	return true
}

func (s *sinkRecorder) control(op ws.OpCode, p []byte) bool {
	s.events = append(s.events, fmt.Sprintf("control %v %s", op, digest(p)))
	if op == ws.OpClose {
		s.closed, s.stopped = true, true
		return false
	}
	return true
}

func (s *sinkRecorder) fail(code ws.StatusCode, err error) {
	s.events = append(s.events, fmt.Sprintf("fail %d %v", code, err))
	s.closed = true
}

// digest names a payload briefly.
func digest(p []byte) string {
	return fmt.Sprintf("%d:%.8q:%08x", len(p), p, crc32.ChecksumIEEE(p))
}

// feedChunks feeds a copy of stream in chunks cut at cuts (chunk sizes,
// cycled) and returns what the sink saw.
func feedChunks(stream []byte, max int64, cuts []int) (*sinkRecorder, *frameReader) {
	data := bytes.Clone(stream)
	s := &sinkRecorder{}
	r := &frameReader{}
	for i := 0; len(data) > 0 && !s.stopped; i++ {
		k := len(data)
		if len(cuts) > 0 {
			k = min(k, max1(cuts[i%len(cuts)]))
		}
		r.feed(data[:k], max, s)
		data = data[k:]
	}
	return s, r
}

func max1(n int) int { return max(n, 1) }

// readerStream is a client stream exercising every path of the reader.
func readerStream(big int) []byte {
	var b []byte
	b = append(b, clientFrame(ws.OpText, true, []byte("hello"))...)
	b = append(b, clientFrame(ws.OpBinary, false, []byte("frag-"))...)
	b = append(b, clientFrame(ws.OpPing, true, []byte("ping"))...)
	b = append(b, clientFrame(ws.OpContinuation, false, bytes.Repeat([]byte("m"), 300))...)
	b = append(b, clientFrame(ws.OpPong, true, nil)...)
	b = append(b, clientFrame(ws.OpContinuation, true, []byte("-end"))...)
	b = append(b, clientFrame(ws.OpText, true, nil)...)
	b = append(b, clientFrame(ws.OpBinary, true, bytes.Repeat([]byte{0, 1, 2}, big))...)
	b = append(b, clientFrame(ws.OpClose, true, ws.NewCloseFrameBody(1000, "done"))...)
	b = append(b, clientFrame(ws.OpText, true, []byte("after close"))...)
	return b
}

func TestFrameReaderChunks(t *testing.T) {
	stream := readerStream(30000)
	whole, r := feedChunks(stream, 1<<20, nil)
	if len(whole.events) != 7 || r.st != nil {
		t.Fatalf("events %q, state %+v", whole.events, r.st)
	}
	for size := 1; size <= 300; size++ {
		got, r := feedChunks(stream, 1<<20, []int{size})
		if fmt.Sprint(got.events) != fmt.Sprint(whole.events) {
			t.Fatalf("chunks of %d: %q, want %q", size, got.events, whole.events)
		}
		if r.st != nil {
			t.Fatalf("chunks of %d: state kept after the last frame: %+v", size, r.st)
		}
	}
}

func TestFrameReaderState(t *testing.T) {
	s := &sinkRecorder{}
	r := &frameReader{}
	f := clientFrame(ws.OpText, true, []byte("0123456789"))
	r.feed(bytes.Clone(f[:8]), 1<<20, s)
	if r.st == nil || r.st.msg == nil {
		t.Fatalf("partial frame: state %+v", r.st)
	}
	r.feed(bytes.Clone(f[8:]), 1<<20, s)
	if r.st != nil {
		t.Fatalf("complete frame: state kept: %+v", r.st)
	}
	r.feed(bytes.Clone(f[:1]), 1<<20, s)
	if r.st == nil || r.st.nhdr != 1 || r.st.msg != nil {
		t.Fatalf("one header byte: state %+v", r.st)
	}
}

func FuzzFrameReader(f *testing.F) {
	f.Add(readerStream(50), []byte{1, 7, 200})
	f.Add(clientFrame(ws.OpText, true, []byte("x")), []byte{1})
	f.Add([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, []byte{3})
	unmasked, _ := ws.CompileFrame(ws.NewTextFrame([]byte("plain")))
	f.Add(append(unmasked, clientFrame(ws.OpClose, true, nil)...), []byte{2, 5})
	f.Fuzz(func(t *testing.T, stream, cuts []byte) {
		sizes := make([]int, len(cuts))
		for i, c := range cuts {
			sizes[i] = int(c)
		}
		whole, _ := feedChunks(stream, 4096, nil)
		got, _ := feedChunks(stream, 4096, sizes)
		if fmt.Sprint(got.events) != fmt.Sprint(whole.events) {
			t.Fatalf("chunked %v: %q, whole: %q", sizes, got.events, whole.events)
		}
	})
}

// frameCollector is a FrameHandler that writes down what it receives and
// fails on a message equal to failOn.
type frameCollector struct {
	events []string
	failOn string
}

var errCollector = errors.New("collector: refused")

func (c *frameCollector) Message(op ws.OpCode, p []byte) error {
	if string(p) == c.failOn {
		return errCollector
	}
	c.events = append(c.events, fmt.Sprintf("message %v %s", op, p))
	return nil
}

func (c *frameCollector) Control(op ws.OpCode, p []byte) error {
	c.events = append(c.events, fmt.Sprintf("control %v %s", op, p))
	return nil
}

// serverFrame is a frame as a server sends it: unmasked.
func serverFrame(op ws.OpCode, fin bool, p []byte) []byte {
	b, err := ws.CompileFrame(ws.NewFrame(op, fin, p))
	if err != nil {
		panic(err)
	}
	return b
}

// FrameReader reads a server's frames from byte runs of any size; an error
// (a protocol violation, a message over the limit, the handler's own) stops
// it for good.
func TestFrameReaderClientSide(t *testing.T) {
	stream := bytes.Join([][]byte{
		serverFrame(ws.OpText, true, []byte("hello")),
		serverFrame(ws.OpBinary, false, []byte("fr")),
		serverFrame(ws.OpPing, true, []byte("p")),
		serverFrame(ws.OpContinuation, true, []byte("ag")),
		serverFrame(ws.OpClose, true, nil),
	}, nil)
	want := `[message 1 hello control 9 p message 2 frag control 8 ]`
	for size := 1; size <= len(stream); size++ {
		var r FrameReader
		c := &frameCollector{}
		data := bytes.Clone(stream)
		for i := 0; i < len(data); i += size {
			if err := r.Feed(data[i:min(i+size, len(data))], 1024, c); err != nil {
				t.Fatalf("chunks of %d: %v", size, err)
			}
		}
		if fmt.Sprint(c.events) != want {
			t.Fatalf("chunks of %d: %q", size, c.events)
		}
	}

	for name, tc := range map[string]struct {
		stream []byte
		want   error
	}{
		"masked":    {clientFrame(ws.OpText, true, []byte("x")), ws.ErrProtocolMaskUnexpected},
		"too large": {serverFrame(ws.OpBinary, true, make([]byte, 1025)), ErrMessageTooLarge},
		"refused":   {serverFrame(ws.OpText, true, []byte("no")), errCollector},
	} {
		var r FrameReader
		c := &frameCollector{failOn: "no"}
		if err := r.Feed(bytes.Clone(tc.stream), 1024, c); err != tc.want {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
		if err := r.Feed(serverFrame(ws.OpText, true, []byte("later")), 1024, c); err != tc.want || len(c.events) != 0 {
			t.Errorf("%s: after the error: %v, events %q", name, err, c.events)
		}
	}
}
