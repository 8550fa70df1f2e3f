package bench

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

// What a Conn sends is a final, masked frame that gobwas/ws reads back.
func TestClientFrameIsMasked(t *testing.T) {
	payload := []byte(`{"type":6}` + "\x1e")
	for _, n := range []int{len(payload), 200, 70000} {
		p := bytes.Repeat(payload, n/len(payload)+1)[:n]
		f := appendClientFrame(nil, ws.OpText, p, [4]byte{9, 8, 7, 6})
		r := bytes.NewReader(f)
		h, err := ws.ReadHeader(r)
		if err != nil || ws.CheckHeader(h, ws.StateServerSide) != nil || !h.Fin || h.OpCode != ws.OpText || h.Length != int64(n) {
			t.Fatalf("n=%d: header %+v, %v", n, h, err)
		}
		got := f[len(f)-r.Len():]
		ws.Cipher(got, h.Mask, 0)
		if !bytes.Equal(got, p) {
			t.Fatalf("n=%d: payload does not unmask", n)
		}
	}
}
