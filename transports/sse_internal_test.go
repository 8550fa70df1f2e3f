package transports

import "testing"

// TestAppendEvent: one event per call whatever the frames hold; every line
// of their bytes gets its own data: field, a line's trailing \r dropped.
func TestAppendEvent(t *testing.T) {
	for _, tc := range []struct {
		frames []string
		want   string
	}{
		{[]string{"{}\x1e"}, "data: {}\x1e\r\n\r\n"},
		{[]string{"{\"a\":1}\x1e", "{\"b\":2}\x1e"}, "data: {\"a\":1}\x1e{\"b\":2}\x1e\r\n\r\n"},
		{[]string{"a\nb", "c\r\nd\n"}, "data: a\r\ndata: bc\r\ndata: d\r\ndata: \r\n\r\n"},
	} {
		var frames [][]byte
		for _, f := range tc.frames {
			frames = append(frames, []byte(f))
		}
		if got := string(appendEvent(nil, frames)); got != tc.want {
			t.Errorf("appendEvent(%q) = %q, want %q", tc.frames, got, tc.want)
		}
	}
}
