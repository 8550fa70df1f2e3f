package actors

import "testing"

// TestReplayAck: Ack drops the frames up to its id, in order, and the next
// Sequence is the first unacknowledged id, or the one after the last sent.
func TestReplayAck(t *testing.T) {
	var r replay
	if got := r.next(); got != 1 {
		t.Fatalf("empty: next %d, want 1", got)
	}
	for i := 1; i <= 5; i++ {
		r.add(make([]byte, i))
	}
	if r.bytes != 15 || r.next() != 1 {
		t.Fatalf("after 5: bytes %d next %d", r.bytes, r.next())
	}
	r.ack(3)
	if r.bytes != 9 || r.next() != 4 || len(r.frames[r.head:]) != 2 || len(r.frames[r.head]) != 4 {
		t.Fatalf("after ack 3: bytes %d next %d", r.bytes, r.next())
	}
	r.ack(2) // old ack: nothing changes
	if r.next() != 4 {
		t.Fatalf("after an old ack: next %d", r.next())
	}
	r.ack(5)
	if r.bytes != 0 || r.next() != 6 {
		t.Fatalf("after ack 5: bytes %d next %d", r.bytes, r.next())
	}
	r.add([]byte("x"))
	if r.next() != 6 || r.sent != 6 {
		t.Fatalf("after one more: next %d sent %d", r.next(), r.sent)
	}
	for i := 0; i < 3000; i++ {
		r.add([]byte("y"))
		r.ack(r.sent - 1) // keep one: compaction must keep ids right
	}
	if r.next() != r.sent || r.bytes != 1 {
		t.Fatalf("after churn: next %d sent %d bytes %d", r.next(), r.sent, r.bytes)
	}
}
