package actors

import "testing"

// Transport names get a slot each at first use, "" and names past
// maxTransports share "other" (slot 0).
func TestTransportSlots(t *testing.T) {
	var s stats
	if s.transportSlot("") != 0 || s.transportSlot("other") != 0 {
		t.Fatal(`"" and "other" are slot 0`)
	}
	a, b := s.transportSlot("WebSockets"), s.transportSlot("LongPolling")
	if a != 1 || b != 2 || s.transportSlot("WebSockets") != 1 {
		t.Fatalf("slots %d, %d", a, b)
	}
	for i := 3; i < maxTransports; i++ {
		if got := s.transportSlot(string(rune('a' + i))); got != i {
			t.Fatalf("slot %d for the %dth name", got, i)
		}
	}
	if got := s.transportSlot("one too many"); got != 0 {
		t.Fatalf("a name past maxTransports: slot %d, want 0", got)
	}
}
