package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// serverFrame builds a frame as a server sends it (unmasked), or masked
// when key is not nil.
func serverFrame(fin bool, op byte, payload []byte, key []byte) []byte {
	b := []byte{op}
	if fin {
		b[0] |= 0x80
	}
	m := byte(0)
	if key != nil {
		m = 0x80
	}
	switch l := len(payload); {
	case l < 126:
		b = append(b, m|byte(l))
	case l <= 0xFFFF:
		b = append(b, m|126, byte(l>>8), byte(l))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(l))
	}
	if key != nil {
		b = append(b, key...)
		start := len(b)
		b = append(b, payload...)
		maskBytes(b[start:], [4]byte(key), 0)
		return b
	}
	return append(b, payload...)
}

// collector records what a frameReader delivers.
type collector struct {
	msgs     [][]byte
	ops      []byte
	controls []byte
}

func (c *collector) message(op byte, msg []byte) error {
	c.msgs = append(c.msgs, append([]byte(nil), msg...))
	c.ops = append(c.ops, op)
	return nil
}

func (c *collector) control(op byte, _ []byte) error {
	c.controls = append(c.controls, op)
	return nil
}

func TestFrameReaderSplits(t *testing.T) {
	big := bytes.Repeat([]byte("y"), 70000)
	mid := bytes.Repeat([]byte("z"), 300)
	var stream []byte
	stream = append(stream, serverFrame(true, opText, []byte("hello\x1e"), nil)...)
	stream = append(stream, serverFrame(true, opPing, []byte("p"), nil)...)
	stream = append(stream, serverFrame(true, opBinary, mid, nil)...)
	stream = append(stream, serverFrame(false, opText, []byte("frag"), nil)...)
	stream = append(stream, serverFrame(true, opPong, nil, nil)...) // control frames may interleave
	stream = append(stream, serverFrame(true, opContinuation, []byte("mented"), []byte{1, 2, 3, 4})...)
	stream = append(stream, serverFrame(true, opBinary, big, nil)...)
	want := [][]byte{[]byte("hello\x1e"), mid, []byte("fragmented"), big}
	// Every split of the stream into pieces of one size gives the same.
	for _, step := range []int{1, 2, 3, 7, 126, 4096, len(stream)} {
		var r frameReader
		var c collector
		in := append([]byte(nil), stream...)
		for i := 0; i < len(in); i += step {
			if err := r.feed(in[i:min(i+step, len(in))], &c); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		}
		if len(c.msgs) != len(want) {
			t.Fatalf("step %d: %d messages, want %d", step, len(c.msgs), len(want))
		}
		for i := range want {
			if !bytes.Equal(c.msgs[i], want[i]) {
				t.Fatalf("step %d: message %d differs", step, i)
			}
		}
		if !bytes.Equal(c.ops, []byte{opText, opBinary, opText, opBinary}) || !bytes.Equal(c.controls, []byte{opPing, opPong}) {
			t.Fatalf("step %d: ops %v controls %v", step, c.ops, c.controls)
		}
		if r.partial != nil || r.frag != nil {
			t.Fatalf("step %d: the reader holds bytes after whole frames", step)
		}
	}
}

func TestFrameReaderRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"rsv bits":            {0xC1, 0x00},
		"long ping":           serverFrame(true, opPing, make([]byte, 126), nil),
		"fragmented close":    serverFrame(false, opClose, nil, nil),
		"stray continuation":  serverFrame(true, opContinuation, []byte("x"), nil),
		"unknown opcode":      serverFrame(true, 0x3, nil, nil),
		"too long":            {0x82, 127, 0, 0, 0, 0, 0x10, 0, 0, 0},
		"new message in frag": append(serverFrame(false, opText, []byte("a"), nil), serverFrame(true, opText, []byte("b"), nil)...),
	} {
		var r frameReader
		if err := r.feed(b, &collector{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestClientFrameIsMasked(t *testing.T) {
	payload := []byte(`{"type":6}` + "\x1e")
	for _, n := range []int{len(payload), 200, 70000} {
		p := bytes.Repeat(payload, n/len(payload)+1)[:n]
		f := appendClientFrame(nil, opText, p, [4]byte{9, 8, 7, 6})
		h, hl, err := parseFrameHeader(f)
		if err != nil || hl == 0 || !h.masked || !h.fin || h.op != opText || h.length != n {
			t.Fatalf("n=%d: header %+v len %d err %v", n, h, hl, err)
		}
		got := append([]byte(nil), f[hl:]...)
		maskBytes(got, h.mask, 0)
		if !bytes.Equal(got, p) {
			t.Fatalf("n=%d: payload does not unmask", n)
		}
	}
}

// FuzzFrameReader feeds arbitrary bytes in arbitrary pieces: the reader
// must never panic, and whole frames split anywhere must parse as whole.
func FuzzFrameReader(f *testing.F) {
	f.Add(serverFrame(true, opText, []byte("{}\x1e"), nil), uint8(1))
	f.Add(append(serverFrame(false, opBinary, []byte{1, 2}, nil), serverFrame(true, opContinuation, []byte{3}, []byte{1, 1, 1, 1})...), uint8(2))
	f.Add([]byte{0x82, 126, 0, 200}, uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		s := int(step) + 1
		var split, whole frameReader
		var cs, cw collector
		errSplit := error(nil)
		in := append([]byte(nil), data...)
		for i := 0; i < len(in) && errSplit == nil; i += s {
			errSplit = split.feed(in[i:min(i+s, len(in))], &cs)
		}
		errWhole := whole.feed(append([]byte(nil), data...), &cw)
		if (errSplit == nil) != (errWhole == nil) {
			t.Fatalf("split error %v, whole error %v", errSplit, errWhole)
		}
		if errWhole == nil && len(cs.msgs) != len(cw.msgs) {
			t.Fatalf("split gave %d messages, whole %d", len(cs.msgs), len(cw.msgs))
		}
		for i := range cs.msgs {
			if errWhole == nil && !bytes.Equal(cs.msgs[i], cw.msgs[i]) {
				t.Fatalf("message %d differs", i)
			}
		}
		if errWhole != nil && !errors.Is(errWhole, errBadFrame) && !errors.Is(errWhole, errFrameTooLong) {
			t.Fatalf("unexpected error %v", errWhole)
		}
	})
}
