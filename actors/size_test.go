package actors

import (
	"testing"
	"unsafe"
)

// Every connection holds one Conn, and the Go allocator rounds it up to a
// size class (..., 416, 448, 480, 512 bytes): a field that takes it past
// 448 costs 32 bytes per connection, not its own size. Keep what few
// connections use behind a pointer made on demand (extra, direct,
// stateful), or raise this bound knowingly.
func TestConnSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 448 {
		t.Fatalf("Conn is %d bytes, past the 448 B size class", n)
	}
}
