package protocol

import (
	"bytes"
	"errors"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// SkipMessagePack measures one value as vmihailenco/msgpack's decoder does,
// at any nesting, and refuses what is cut short or uses 0xc1.
func TestSkipMessagePack(t *testing.T) {
	deep := append(bytes.Repeat([]byte{0x91}, 1<<20), 0xc0) // a million nested arrays
	for _, v := range []any{nil, true, 1, -1, 1 << 40, 1.5, "s", string(make([]byte, 300)), []byte{1, 2},
		[]any{1, "a", map[string]any{"k": []int{1, 2}}}, map[string]int{"a": 1, "b": 2}} {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, 0xff) // a next value follows
		if n, err := SkipMessagePack(b); err != nil || n != len(b)-1 {
			t.Errorf("%v: %d, %v; want %d", v, n, err, len(b)-1)
		}
	}
	if n, err := SkipMessagePack(deep); err != nil || n != len(deep) {
		t.Errorf("deep nesting: %d, %v", n, err)
	}
	for name, b := range map[string][]byte{
		"empty": nil, "0xc1": {0xc1}, "cut string": {0xa3, 'a'}, "cut array": {0x92, 0x01},
		"cut deep": deep[:len(deep)-1], "cut length": {0xda, 0x00}, "huge map": {0xdf, 0xff, 0xff, 0xff, 0xff},
	} {
		if _, err := SkipMessagePack(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

// FuzzSkipMessagePack: on any bytes, SkipMessagePack agrees with
// vmihailenco/msgpack's Skip on whether there is a whole value and on its
// length.
func FuzzSkipMessagePack(f *testing.F) {
	for _, v := range []any{nil, []any{1, "x", map[string]any{"a": []byte{1}}}, 1.25, int64(-1 << 40)} {
		b, _ := msgpack.Marshal(v)
		f.Add(b)
	}
	f.Add([]byte{0xd4, 0x01, 0x02, 0xc7, 0x01, 0x05, 0xaa})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := SkipMessagePack(b)
		rd := bytes.NewReader(b)
		werr := msgpack.NewDecoder(rd).Skip()
		want := len(b) - rd.Len()
		if (err == nil) != (werr == nil) || err == nil && n != want {
			t.Fatalf("% x: SkipMessagePack %d, %v; msgpack Skip %d, %v", b, n, err, want, werr)
		}
	})
}
