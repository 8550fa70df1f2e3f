package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

type mpRaw = msgpack.RawMessage

// mpv encodes v with the msgpack library, for building test inputs.
func mpv(t testing.TB, v any) mpRaw {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// frame puts a length prefix in front of body.
func frame(body []byte) []byte {
	return append(appendVarInt(nil, len(body)), body...)
}

// mpFrame encodes the elements as one array and frames it.
func mpFrame(t testing.TB, elems ...any) []byte {
	t.Helper()
	return frame(mpv(t, elems))
}

// mpGoldenMessages are encoded to testdata/msgpack/<name>.golden and decoded
// back. Their values are msgpack.RawMessage so that decoding gives the same
// message.
var mpGoldenMessages = []struct {
	name string
	m    Message
}{
	{"invocation_nonblocking", &Invocation{Target: "SendMessage", Arguments: []any{mpRaw("\xa5alice"), mpRaw("\xa5hello")}}},
	{"invocation_blocking", &Invocation{InvocationID: "1", Target: "Add", Arguments: []any{mpRaw{0x01}, mpRaw("\xcb\x40\x04\x00\x00\x00\x00\x00\x00")}}},
	{"invocation_no_args", &Invocation{InvocationID: "2", Target: "Ping", Arguments: []any{}}},
	{"invocation_streams_headers", &Invocation{
		Headers:      map[string]string{"traceparent": "00-abc-01", "a": "b"},
		InvocationID: "3", Target: "Upload",
		Arguments: []any{mpRaw("\x81\xa1x\x93\x01\xc0\xc3")}, StreamIDs: []string{"0", "1"},
	}},
	{"stream_invocation", &StreamInvocation{InvocationID: "4", Target: "Counter", Arguments: []any{mpRaw{10}, mpRaw("\xcd\x01\xf4")}}},
	{"stream_invocation_streams", &StreamInvocation{InvocationID: "5", Target: "Echo", Arguments: []any{}, StreamIDs: []string{"7"}}},
	{"stream_item", &StreamItem{InvocationID: "4", Item: mpRaw("\x81\xa1n\x01")}},
	{"stream_item_null", &StreamItem{InvocationID: "4", Item: mpRaw{mpNil}, Headers: map[string]string{"k": "v"}}},
	{"stream_item_bin", &StreamItem{InvocationID: "4", Item: mpRaw("\xc4\x03\x00\xff\x1e")}},
	{"completion_result", &Completion{InvocationID: "1", HasResult: true, Result: mpRaw("\xcb\x40\x0c\x00\x00\x00\x00\x00\x00")}},
	{"completion_null_result", &Completion{InvocationID: "1", HasResult: true, Result: mpRaw{mpNil}}},
	{"completion_void", &Completion{InvocationID: "1"}},
	{"completion_error", &Completion{InvocationID: "1", Error: "An unexpected error occurred invoking 'Add' on the server."}},
	{"cancel_invocation", &CancelInvocation{InvocationID: "4"}},
	{"ping", &Ping{}},
	{"close", &Close{}},
	{"close_error", &Close{Error: "Connection closed with an error."}},
	{"close_reconnect", &Close{Error: "Connection closed with an error.", AllowReconnect: true}},
	{"close_reconnect_only", &Close{AllowReconnect: true}},
	{"ack", &Ack{SequenceID: 1394}},
	{"sequence", &Sequence{SequenceID: 1}},
	{"large_string", &Invocation{Target: "Echo", Arguments: []any{mpRaw(appendMPString(nil, strings.Repeat("x", 20<<10)))}}},
}

func mpGoldenPath(name string) string { return filepath.Join("testdata", "msgpack", name+".golden") }

func TestMessagePackProtocolInfo(t *testing.T) {
	if MessagePack.Name() != "messagepack" || MessagePack.Version() != 2 || MessagePack.TransferFormat() != Binary {
		t.Fatalf("got %q v%d format %d", MessagePack.Name(), MessagePack.Version(), MessagePack.TransferFormat())
	}
}

func TestMessagePackGolden(t *testing.T) {
	if *update {
		if err := os.MkdirAll(filepath.Join("testdata", "msgpack"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range mpGoldenMessages {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MessagePack.AppendMessage(nil, tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(mpGoldenPath(tc.name), got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(mpGoldenPath(tc.name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded\n got %x\nwant %x", got, want)
			}
			// The body is one array the msgpack library reads too.
			body, _, err := nextFrame(want, 0)
			if err != nil {
				t.Fatal(err)
			}
			var arr []any
			if err := msgpack.Unmarshal(body, &arr); err != nil || len(arr) == 0 {
				t.Fatalf("library reads %x as %v, %v", body, arr, err)
			}
			m, rest, err := MessagePack.ReadMessage(want, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(rest) != 0 {
				t.Fatalf("rest = %x", rest)
			}
			if !reflect.DeepEqual(m, tc.m) {
				t.Fatalf("decoded\n got %#v\nwant %#v", m, tc.m)
			}
		})
	}
}

// TestMessagePackLayouts pins the arrays the JS client reads.
func TestMessagePackLayouts(t *testing.T) {
	tests := []struct {
		m    Message
		want []any
	}{
		{&Ping{}, []any{int8(6)}},
		{&Invocation{Target: "T", Arguments: []any{1}}, []any{int8(1), map[string]any{}, nil, "T", []any{int8(1)}}},
		{&Invocation{InvocationID: "1", Target: "T", Arguments: []any{}, StreamIDs: []string{"s"}},
			[]any{int8(1), map[string]any{}, "1", "T", []any{}, []any{"s"}}},
		{&StreamItem{InvocationID: "1", Item: "x"}, []any{int8(2), map[string]any{}, "1", "x"}},
		{&Completion{InvocationID: "1"}, []any{int8(3), map[string]any{}, "1", int8(2)}},
		{&Completion{InvocationID: "1", Error: "e"}, []any{int8(3), map[string]any{}, "1", int8(1), "e"}},
		{&Completion{InvocationID: "1", HasResult: true}, []any{int8(3), map[string]any{}, "1", int8(3), nil}},
		{&CancelInvocation{InvocationID: "1"}, []any{int8(5), map[string]any{}, "1"}},
		{&Close{}, []any{int8(7), nil, false}},
		{&Close{Error: "e", AllowReconnect: true}, []any{int8(7), "e", true}},
		{&Ack{SequenceID: 300}, []any{int8(8), uint16(300)}},
		{&Sequence{SequenceID: -1}, []any{int8(9), int8(-1)}},
	}
	for _, tc := range tests {
		b, err := MessagePack.AppendMessage(nil, tc.m)
		if err != nil {
			t.Fatal(err)
		}
		body, rest, err := nextFrame(b, 0)
		if err != nil || len(rest) != 0 {
			t.Fatalf("%T: %v, rest %x", tc.m, err, rest)
		}
		var got []any
		if err := msgpack.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%T encodes as\n %#v\nwant %#v", tc.m, got, tc.want)
		}
	}
	got, _ := MessagePack.AppendMessage([]byte("x"), &Ping{})
	if string(got) != "x\x02\x91\x06" {
		t.Fatalf("ping: %x", got)
	}
}

func TestMessagePackDecode(t *testing.T) {
	empty := map[string]any{}
	tests := []struct {
		name string
		in   []byte
		want Message
	}{
		{"js client invocation, 5 elements", mpFrame(t, 1, empty, "0", "Add", []any{40, 2}),
			&Invocation{InvocationID: "0", Target: "Add", Arguments: []any{mpRaw{40}, mpRaw{2}}}},
		{"js client send, nil id", mpFrame(t, 1, empty, nil, "Send", []any{"a"}),
			&Invocation{Target: "Send", Arguments: []any{mpRaw("\xa1a")}}},
		{"empty id is non-blocking", mpFrame(t, 1, empty, "", "Send", []any{}),
			&Invocation{Target: "Send", Arguments: []any{}}},
		{"6 elements", mpFrame(t, 1, empty, "1", "Upload", []any{}, []string{"0"}),
			&Invocation{InvocationID: "1", Target: "Upload", Arguments: []any{}, StreamIDs: []string{"0"}}},
		{"6 elements, no stream ids", mpFrame(t, 1, empty, "1", "T", []any{}, []string{}),
			&Invocation{InvocationID: "1", Target: "T", Arguments: []any{}}},
		{"extra elements ignored", mpFrame(t, 1, empty, "1", "T", []any{}, []string{}, "future", []any{1}),
			&Invocation{InvocationID: "1", Target: "T", Arguments: []any{}}},
		{"stream invocation, 5 elements", mpFrame(t, 4, empty, "2", "Counter", []any{3}),
			&StreamInvocation{InvocationID: "2", Target: "Counter", Arguments: []any{mpRaw{3}}}},
		{"headers", mpFrame(t, 5, map[string]string{"a": "b", "traceparent": "x"}, "1"),
			&CancelInvocation{InvocationID: "1", Headers: map[string]string{"a": "b", "traceparent": "x"}}},
		{"stream item nil", mpFrame(t, 2, empty, "1", nil), &StreamItem{InvocationID: "1", Item: mpRaw{mpNil}}},
		{"void completion", mpFrame(t, 3, empty, "1", 2), &Completion{InvocationID: "1"}},
		{"void completion with a 5th element", mpFrame(t, 3, empty, "1", 2, "ignored"), &Completion{InvocationID: "1"}},
		{"completion nil result", mpFrame(t, 3, empty, "1", 3, nil),
			&Completion{InvocationID: "1", HasResult: true, Result: mpRaw{mpNil}}},
		{"completion error", mpFrame(t, 3, empty, "1", 1, "boom"), &Completion{InvocationID: "1", Error: "boom"}},
		{"ping", []byte{2, 0x91, 6}, &Ping{}},
		{"ping with extras", mpFrame(t, 6, "x"), &Ping{}},
		{"js client close", mpFrame(t, 7, nil), &Close{}},
		{"close", mpFrame(t, 7, "e", true), &Close{Error: "e", AllowReconnect: true}},
		{"ack", mpFrame(t, 8, int64(1)<<40), &Ack{SequenceID: 1 << 40}},
		{"sequence negative", mpFrame(t, 9, -200), &Sequence{SequenceID: -200}},
		{"type as uint64", frame([]byte("\x91\xcf\x00\x00\x00\x00\x00\x00\x00\x06")), &Ping{}},
		{"str16 target", frame([]byte("\x95\x01\x80\xc0\xda\x00\x01T\x90")), &Invocation{Target: "T", Arguments: []any{}}},
		{"array16 arguments", frame([]byte("\x95\x01\x80\xc0\xa1T\xdc\x00\x01\x07")), &Invocation{Target: "T", Arguments: []any{mpRaw{7}}}},
		{"map16 headers", frame([]byte("\x93\x05\xde\x00\x01\xa1k\xa1v\xa11")),
			&CancelInvocation{InvocationID: "1", Headers: map[string]string{"k": "v"}}},
		{"many arguments", mpFrame(t, 1, empty, nil, "T", []any{1, 2, 3, 4, 5, 6}),
			&Invocation{Target: "T", Arguments: []any{mpRaw{1}, mpRaw{2}, mpRaw{3}, mpRaw{4}, mpRaw{5}, mpRaw{6}}}},
		{"every value kind", mpFrame(t, 2, empty, "1", []any{-1, -200, 1.5, float32(2), "s", []byte{1}, map[string]any{"a": []any{}}, time.Unix(1, 0).UTC(), true, false, nil, uint64(1) << 63}),
			nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, rest, err := MessagePack.ReadMessage(tc.in, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(rest) != 0 {
				t.Fatalf("rest = %x", rest)
			}
			if tc.want != nil && !reflect.DeepEqual(m, tc.want) {
				t.Fatalf("got  %#v\nwant %#v", m, tc.want)
			}
		})
	}
}

func TestMessagePackDecodeErrors(t *testing.T) {
	empty := map[string]any{}
	tests := []struct {
		name   string
		in     []byte
		detail string
	}{
		{"empty body", []byte{0}, "empty message"},
		{"not an array", frame([]byte{0x06}), "array"},
		{"empty array", frame([]byte{0x90}), "empty message array"},
		{"string type", mpFrame(t, "1"), "integer"},
		{"float type", mpFrame(t, 1.0), "integer"},
		{"uint64 type out of range", frame([]byte("\x91\xcf\xff\xff\xff\xff\xff\xff\xff\xff")), "out of range"},
		{"invocation, 4 elements", mpFrame(t, 1, empty, nil, "T"), "at least 5"},
		{"stream item, 3 elements", mpFrame(t, 2, empty, "1"), "at least 4"},
		{"completion, 3 elements", mpFrame(t, 3, empty, "1"), "at least 4"},
		{"completion with result kind 3 and no result", mpFrame(t, 3, empty, "1", 3), "no result"},
		{"completion with result kind 1 and no error", mpFrame(t, 3, empty, "1", 1), "no result"},
		{"completion bad kind", mpFrame(t, 3, empty, "1", 4, nil), "result kind"},
		{"completion error not a string", mpFrame(t, 3, empty, "1", 1, 5), "string"},
		{"cancel, 2 elements", mpFrame(t, 5, empty), "at least 3"},
		{"close, 1 element", mpFrame(t, 7), "at least 2"},
		{"ack, 1 element", mpFrame(t, 8), "at least 2"},
		{"sequence not a number", mpFrame(t, 9, "1"), "integer"},
		{"headers nil", mpFrame(t, 1, nil, nil, "T", []any{}), "map"},
		{"headers an array", mpFrame(t, 1, []any{}, nil, "T", []any{}), "map"},
		{"header value not a string", mpFrame(t, 5, map[string]any{"a": 1}, "1"), "string"},
		{"header key not a string", mpFrame(t, 5, map[int]string{1: "a"}, "1"), "string"},
		{"invocation id a number", mpFrame(t, 1, empty, 1, "T", []any{}), "string"},
		{"stream invocation nil id", mpFrame(t, 4, empty, nil, "T", []any{}), "string"},
		{"stream item empty id", mpFrame(t, 2, empty, "", 1), "empty invocationId"},
		{"completion nil id", mpFrame(t, 3, empty, nil, 2), "string"},
		{"empty target", mpFrame(t, 1, empty, nil, "", []any{}), "empty target"},
		{"nil target", mpFrame(t, 1, empty, nil, nil, []any{}), "string"},
		{"arguments a map", mpFrame(t, 1, empty, nil, "T", empty), "array"},
		{"arguments nil", mpFrame(t, 1, empty, nil, "T", nil), "array"},
		{"stream ids not strings", mpFrame(t, 1, empty, nil, "T", []any{}, []any{1}), "string"},
		{"stream ids nil", mpFrame(t, 1, empty, nil, "T", []any{}, nil), "array"},
		{"allowReconnect not a bool", mpFrame(t, 7, nil, 1), "boolean"},
		{"close error a number", mpFrame(t, 7, 1), "string"},
		{"reserved byte 0xc1", frame([]byte("\x95\x01\x80\xc0\xa1T\x91\xc1")), "0xc1"},
		{"truncated argument", frame([]byte("\x95\x01\x80\xc0\xa1T\x91\xa3ab")), "end of message"},
		{"array count past the body", frame([]byte("\x95\x01\x80\xc0\xa1T\xdd\xff\xff\xff\xff")), "end of message"},
		{"map count past the body", frame([]byte("\x93\x05\xdf\xff\xff\xff\xff")), "end of message"},
		{"str32 length past the body", frame([]byte("\x93\x05\x80\xdb\xff\xff\xff\xff")), "end of message"},
		{"missing elements", frame([]byte("\x95\x01\x80\xc0")), "end of message"},
		{"bytes after the array", append(frame([]byte{0x91, 0x06, 0x06}), 0), "after the message"},
		{"too deep", frame(append([]byte("\x95\x01\x80\xc0\xa1T\x91"), append(bytes.Repeat([]byte{0x91}, maxDepth), 0)...)), "nesting"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tail := []byte{2, 0x91, 6}
			m, rest, err := MessagePack.ReadMessage(append(bytes.Clone(tc.in), tail...), 0)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("err = %v, want detail %q", err, tc.detail)
			}
			if m != nil {
				t.Fatalf("m = %#v", m)
			}
			if tc.name != "bytes after the array" && !bytes.Equal(rest, tail) {
				t.Fatalf("rest = %x, want the next frame", rest)
			}
		})
	}
}

func TestMessagePackUnknownType(t *testing.T) {
	for _, typ := range []any{0, 10, 99, -1} {
		data := append(mpFrame(t, typ, "future", []any{1}), 2, 0x91, 6)
		m, rest, err := MessagePack.ReadMessage(data, 0)
		if !errors.Is(err, ErrUnknownType) || m != nil {
			t.Fatalf("type %v: %v, %v", typ, m, err)
		}
		if m, _, err := MessagePack.ReadMessage(rest, 0); err != nil || m.Type() != TypePing {
			t.Fatalf("type %v: next message %v, %v", typ, m, err)
		}
	}
}

func TestMessagePackFraming(t *testing.T) {
	ping := []byte{2, 0x91, 6}
	big := func(n int) []byte { // an Invocation frame with an n-byte string argument
		b, err := MessagePack.AppendMessage(nil, &Invocation{Target: "T", Arguments: []any{strings.Repeat("x", n)}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name       string
		in         []byte
		maxSize    int
		want       error
		prefixSize int
	}{
		{"empty", nil, 0, ErrIncomplete, 0},
		{"prefix only", ping[:1], 0, ErrIncomplete, 0},
		{"part of the body", ping[:2], 0, ErrIncomplete, 0},
		{"at the limit", ping, 2, nil, 1},
		{"over the limit", ping, 1, ErrTooLarge, 0},
		{"over the limit before the body", ping[:1], 1, ErrTooLarge, 0},
		{"only the first frame counts", append(bytes.Clone(ping), bytes.Repeat([]byte{0x7f}, 100)...), 2, nil, 1},
		{"negative limit is none", ping, -1, nil, 1},
		{"1-byte prefix", big(100), 0, nil, 1},
		{"2-byte prefix, 200 bytes", big(200), 0, nil, 2},
		{"2-byte prefix", big(1000), 0, nil, 2},
		{"3-byte prefix, 20 KB string", big(20 << 10), 0, nil, 3},
		{"3-byte prefix, over the limit", big(20 << 10), 16 << 10, ErrTooLarge, 0},
		{"3-byte prefix, limit known from 2 bytes", big(20 << 10)[:2], 4000, ErrTooLarge, 0},
		{"2-byte prefix, limit known from 1 byte", big(1000)[:1], 50, ErrTooLarge, 0},
		{"2-byte prefix, incomplete under the limit", big(1000)[:1], 2000, ErrIncomplete, 0},
		{"truncated prefix", []byte{0x80, 0x80}, 0, ErrIncomplete, 0},
		{"5-byte prefix at 2 GiB", []byte{0x80, 0x80, 0x80, 0x80, 0x08}, 0, ErrTooLarge, 0},
		{"5-byte prefix with the top bit", []byte{0xff, 0xff, 0xff, 0xff, 0x87}, 0, ErrTooLarge, 0},
		{"5-byte prefix under 2 GiB", []byte{0xff, 0xff, 0xff, 0xff, 0x07}, 0, ErrIncomplete, 0},
		{"5-byte prefix over the limit", []byte{0xff, 0xff, 0xff, 0xff, 0x07}, 32 << 10, ErrTooLarge, 0},
		{"long zero prefix", []byte{0x82, 0x80, 0x80, 0x00, 0x91, 0x06}, 0, nil, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, rest, err := MessagePack.ReadMessage(tc.in, tc.maxSize)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil {
				if m != nil || rest != nil {
					t.Fatalf("m = %#v, rest = %x", m, rest)
				}
				return
			}
			body, _, _ := nextFrame(tc.in, tc.maxSize)
			if n := len(tc.in) - len(rest) - len(body); n != tc.prefixSize {
				t.Fatalf("prefix is %d bytes, want %d", n, tc.prefixSize)
			}
		})
	}
	// The 20 KB string reads back whole.
	m, _, err := MessagePack.ReadMessage(big(20<<10), 32<<10)
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := MessagePack.Bind(m.(*Invocation).Arguments[0], &s); err != nil || s != strings.Repeat("x", 20<<10) {
		t.Fatalf("20 KB string: %d bytes, %v", len(s), err)
	}
}

func TestMessagePackVarInt(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 16383, 16384, 1<<21 - 1, 1 << 21, 1<<28 - 1, 1 << 28, 1<<31 - 1} {
		p := appendVarInt(nil, n)
		want := 1
		for m := n >> 7; m > 0; m >>= 7 {
			want++
		}
		if len(p) != want {
			t.Fatalf("%d: %d bytes, want %d", n, len(p), want)
		}
		// Read the prefix back through nextFrame's length check.
		_, _, err := nextFrame(p, n-1)
		if n > 1 && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%d with limit %d: %v", n, n-1, err)
		}
		if _, _, err := nextFrame(p, n+1); n > 0 && !errors.Is(err, ErrIncomplete) {
			t.Fatalf("%d with limit %d: %v", n, n+1, err)
		}
	}
}

// mpGoldenStream is every golden frame, one after another.
func mpGoldenStream(t testing.TB) (data []byte, msgs []Message) {
	for _, tc := range mpGoldenMessages {
		var err error
		if data, err = MessagePack.AppendMessage(data, tc.m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, tc.m)
	}
	return data, msgs
}

func TestMessagePackSeveralFrames(t *testing.T) {
	data, want := mpGoldenStream(t)
	var got []Message
	for len(data) > 0 {
		m, rest, err := MessagePack.ReadMessage(data, 32<<10)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
		data = rest
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
}

// TestMessagePackPrefixes reads every prefix of a buffer of several frames:
// each gives the messages wholly inside it, then ErrIncomplete.
func TestMessagePackPrefixes(t *testing.T) {
	var data []byte
	var want []Message
	var ends []int // where each frame ends
	for _, tc := range mpGoldenMessages {
		if tc.name == "large_string" {
			continue // 20 KB of prefixes would only repeat the same case
		}
		data, _ = MessagePack.AppendMessage(data, tc.m)
		want = append(want, tc.m)
		ends = append(ends, len(data))
	}
	for n := 0; n <= len(data); n++ {
		buf := bytes.Clone(data[:n])
		i := 0
		for {
			m, rest, err := MessagePack.ReadMessage(buf, 0)
			if errors.Is(err, ErrIncomplete) {
				break
			}
			if err != nil {
				t.Fatalf("prefix %d, message %d: %v", n, i, err)
			}
			if !reflect.DeepEqual(m, want[i]) {
				t.Fatalf("prefix %d, message %d: got %#v, want %#v", n, i, m, want[i])
			}
			buf = rest
			i++
		}
		whole := 0
		for whole < len(ends) && ends[whole] <= n {
			whole++
		}
		if i != whole {
			t.Fatalf("prefix %d: read %d messages, %d are whole", n, i, whole)
		}
	}
}

// TestMessagePackArgumentsAlias checks that values alias the input and
// cannot be appended to over the following bytes.
func TestMessagePackArgumentsAlias(t *testing.T) {
	data := mpFrame(t, 1, map[string]any{}, nil, "T", []any{"a", 1})
	orig := bytes.Clone(data)
	m, _, err := MessagePack.ReadMessage(data, 0)
	if err != nil {
		t.Fatal(err)
	}
	a := m.(*Invocation).Arguments[0].(mpRaw)
	_ = append(a, 'X')
	if !bytes.Equal(data, orig) {
		t.Fatalf("input changed: %x", data)
	}
	data[len(data)-2] = 'b'
	if string(a) != "\xa1b" {
		t.Fatalf("argument does not alias the input: %x", a)
	}
}

type mpUser struct {
	ID    int               `json:"id"`
	Name  string            `json:"name"`
	Tags  []string          `json:"tags,omitempty"`
	Extra map[string]string `json:"extra,omitempty"`
	Skip  string            `json:"-"`
	Plain bool
}

// decodeAny reads an encoded value back as Bind gives it to an any.
func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := MessagePack.Bind(mpRaw(b), &v); err != nil {
		t.Fatalf("%x: %v", b, err)
	}
	return v
}

func TestMessagePackEncodeValues(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string // hex-free: the exact bytes
	}{
		{"nil", nil, "\xc0"},
		{"empty raw", mpRaw(nil), "\xc0"},
		{"raw verbatim", mpRaw("\x92\x01\xa1a"), "\x92\x01\xa1a"},
		{"string", "héllo", "\xa6h\xc3\xa9llo"},
		{"str8", strings.Repeat("a", 32), "\xd9\x20" + strings.Repeat("a", 32)},
		{"bool", true, "\xc3"},
		{"fixint", 40, "\x28"},
		{"negative fixint", -32, "\xe0"},
		{"int8", -33, "\xd0\xdf"},
		{"uint8", 200, "\xcc\xc8"},
		{"int16", -300, "\xd1\xfe\xd4"},
		{"uint16", int64(300), "\xcd\x01\x2c"},
		{"int32", int32(-70000), "\xd2\xff\xfe\xee\x90"},
		{"uint32", 70000, "\xce\x00\x01\x11\x70"},
		{"int64", int64(-1) << 40, "\xd3\xff\xff\xff\x00\x00\x00\x00\x00"},
		{"uint64", uint64(1) << 63, "\xcf\x80\x00\x00\x00\x00\x00\x00\x00"},
		{"float64", 1.5, "\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"},
		{"bytes as bin", []byte{0, 1, 0x1e}, "\xc4\x03\x00\x01\x1e"},
		{"nil bytes", []byte(nil), "\xc0"},
		{"json raw", raw(`{"b":[1,-2,2.5,"x",null,true],"a":{}}`), "\x82\xa1a\x80\xa1b\x96\x01\xfe\xcb\x40\x04\x00\x00\x00\x00\x00\x00\xa1x\xc0\xc3"},
		{"empty json raw", raw(nil), "\xc0"},
		{"json raw big integer", raw(`18446744073709551615`), "\xcf\xff\xff\xff\xff\xff\xff\xff\xff"},
		{"struct with json tags", mpUser{ID: 1, Name: "a", Skip: "x", Plain: true}, "\x83\xa2id\x01\xa4name\xa1a\xa5Plain\xc3"},
		{"map sorted", map[string]any{"b": 2, "a": 1}, "\x82\xa1a\x01\xa1b\x02"},
		{"slice", []string{"a"}, "\x91\xa1a"},
		{"int slice compact", []int{1, 300}, "\x92\x01\xcd\x01\x2c"},
		{"float32", float32(2), "\xca\x40\x00\x00\x00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := appendMsgPackValue([]byte("x"), tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got[1:]) != tc.want {
				t.Fatalf("got %x, want %x", got[1:], tc.want)
			}
		})
	}
	// time.Time travels as the timestamp extension.
	ts := time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	got, err := appendMsgPackValue(nil, ts)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := decodeAny(t, got).(time.Time); !ok || !v.Equal(ts) {
		t.Fatalf("time %x reads back as %v", got, v)
	}
}

// TestMessagePackEncodeLarge checks the length prefix moves the body intact.
func TestMessagePackEncodeLarge(t *testing.T) {
	for _, n := range []int{100, 117, 118, 200, 16370, 16400, 20 << 10, 3 << 20} {
		s := strings.Repeat("y", n)
		out, err := MessagePack.AppendMessage([]byte("pre"), &StreamItem{InvocationID: "1", Item: s})
		if err != nil {
			t.Fatal(err)
		}
		if string(out[:3]) != "pre" {
			t.Fatalf("%d: dst prefix changed", n)
		}
		m, rest, err := MessagePack.ReadMessage(out[3:], 0)
		if err != nil || len(rest) != 0 {
			t.Fatalf("%d: %v, rest %d", n, err, len(rest))
		}
		var got string
		if err := MessagePack.Bind(m.(*StreamItem).Item, &got); err != nil || got != s {
			t.Fatalf("%d: got %d bytes, %v", n, len(got), err)
		}
	}
}

func TestMessagePackEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		m    Message
		want string
	}{
		{"invalid raw", &Invocation{Target: "T", Arguments: []any{mpRaw("\x92\x01")}}, "msgpack.RawMessage"},
		{"two raw values", &StreamItem{InvocationID: "1", Item: mpRaw("\x01\x02")}, "msgpack.RawMessage"},
		{"reserved byte raw", &Completion{InvocationID: "1", HasResult: true, Result: mpRaw{0xc1}}, "msgpack.RawMessage"},
		{"invalid json raw", &StreamItem{InvocationID: "1", Item: raw(`{"a":1`)}, "json.RawMessage"},
		{"unmarshalable", &StreamInvocation{InvocationID: "1", Target: "T", Arguments: []any{1, make(chan int)}}, "chan int"},
		{"nil message", nil, "unknown message type"},
		{"nil pointer", (*Completion)(nil), "nil *protocol.Completion"},
		{"nil invocation", (*Invocation)(nil), "nil"},
		{"nil stream invocation", (*StreamInvocation)(nil), "nil"},
		{"nil stream item", (*StreamItem)(nil), "nil"},
		{"nil cancel", (*CancelInvocation)(nil), "nil"},
		{"nil close", (*Close)(nil), "nil"},
		{"nil ack", (*Ack)(nil), "nil"},
		{"nil sequence", (*Sequence)(nil), "nil"},
		{"foreign message", otherMessage{}, "unknown message type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := MessagePack.AppendMessage(dst, tc.m)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if string(got) != "keep" {
				t.Fatalf("dst changed: %q", got)
			}
		})
	}
}

// TestMessagePackEncodeGoValues encodes the Go values a hub sends and reads
// them back as the JS client would.
func TestMessagePackEncodeGoValues(t *testing.T) {
	out, err := MessagePack.AppendMessage(nil, &Invocation{
		Target: "ReceiveMessage",
		Arguments: []any{"alice", 3, 2.5, []byte("bin"), mpUser{ID: 7, Name: "bob", Tags: []string{"x"}},
			map[string]any{"k": []any{1, "two"}}, nil, json.RawMessage(`[1,"a"]`)},
		Headers: map[string]string{"b": "2", "a": "1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	body, _, err := nextFrame(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeAny(t, body)
	want := []any{int64(1), map[string]any{"a": "1", "b": "2"}, nil, "ReceiveMessage", []any{
		"alice", int64(3), 2.5, []byte("bin"), map[string]any{"id": int64(7), "name": "bob", "tags": []any{"x"}, "Plain": false},
		map[string]any{"k": []any{int64(1), "two"}}, nil, []any{int64(1), "a"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
}

func TestMessagePackBind(t *testing.T) {
	// Values as the JS client encodes them: 40 as a positive fixint.
	var f float64
	if err := MessagePack.Bind(mpRaw{40}, &f); err != nil || f != 40 {
		t.Fatalf("fixint into float64: %v, %v", f, err)
	}
	if err := MessagePack.Bind(mpv(t, 2.5), &f); err != nil || f != 2.5 {
		t.Fatalf("float into float64: %v, %v", f, err)
	}
	var n int
	if err := MessagePack.Bind(mpv(t, -300), &n); err != nil || n != -300 {
		t.Fatalf("int: %v, %v", n, err)
	}
	if err := MessagePack.Bind(mpv(t, 2.5), &n); err == nil || !strings.HasPrefix(err.Error(), "protocol: bind messagepack: ") {
		t.Fatalf("float into int: %v, %v", n, err)
	}
	if err := MessagePack.Bind(mpv(t, "x"), &n); err == nil {
		t.Fatal("string into int bound")
	}
	var s string
	if err := MessagePack.Bind(mpv(t, "héllo"), &s); err != nil || s != "héllo" {
		t.Fatalf("string: %q, %v", s, err)
	}
	var u mpUser
	in := mpv(t, map[string]any{"id": 3, "name": "z", "tags": []string{"a"}, "extra": map[string]string{"k": "v"}, "unknown": 1})
	if err := MessagePack.Bind(in, &u); err != nil || !reflect.DeepEqual(u, mpUser{ID: 3, Name: "z", Tags: []string{"a"}, Extra: map[string]string{"k": "v"}}) {
		t.Fatalf("struct: %+v, %v", u, err)
	}
	var ss []string
	if err := MessagePack.Bind(mpv(t, []string{"a", "b"}), &ss); err != nil || !reflect.DeepEqual(ss, []string{"a", "b"}) {
		t.Fatalf("[]string: %v, %v", ss, err)
	}
	var m map[string]int
	if err := MessagePack.Bind(mpv(t, map[string]int{"a": 1}), &m); err != nil || m["a"] != 1 {
		t.Fatalf("map: %v, %v", m, err)
	}
	var b []byte
	if err := MessagePack.Bind(mpv(t, []byte{0, 0xff}), &b); err != nil || !bytes.Equal(b, []byte{0, 0xff}) {
		t.Fatalf("[]byte: %x, %v", b, err)
	}
	var a any
	if err := MessagePack.Bind(mpv(t, map[string]any{"n": 1, "f": 1.5, "b": []byte{1}, "l": []any{"x"}}), &a); err != nil ||
		!reflect.DeepEqual(a, map[string]any{"n": int64(1), "f": 1.5, "b": []byte{1}, "l": []any{"x"}}) {
		t.Fatalf("any: %#v, %v", a, err)
	}
	var p *string
	if err := MessagePack.Bind(mpRaw(nil), &p); err != nil || p != nil {
		t.Fatalf("empty raw: %v, %v", p, err)
	}
	// A Go value from a server-side call.
	u = mpUser{}
	if err := MessagePack.Bind(map[string]any{"id": 5}, &u); err != nil || u.ID != 5 {
		t.Fatalf("go value: %+v, %v", u, err)
	}
	b = nil
	if err := MessagePack.Bind([]byte("12"), &b); err != nil || string(b) != "12" {
		t.Fatalf("go bytes: %q, %v", b, err)
	}
	if err := MessagePack.Bind(make(chan int), &n); err == nil {
		t.Fatal("unmarshalable value bound")
	}
	if err := MessagePack.Bind(mpRaw{1}, n); err == nil {
		t.Fatal("bound into a non-pointer")
	}
}

// TestMessagePackRoundTripAllocs keeps decode and encode of a chat message
// cheap.
func TestMessagePackRoundTripAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	data := mpFrame(t, 1, map[string]any{}, "12", "SendMessage", []any{"alice", "hello"})
	if n := testing.AllocsPerRun(100, func() { _, _, _ = MessagePack.ReadMessage(data, 0) }); n > 4 {
		t.Errorf("ReadMessage: %v allocs", n)
	}
	m := &Invocation{Target: "ReceiveMessage", Arguments: []any{"alice", "hello"}}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { _, _ = MessagePack.AppendMessage(buf[:0], m) }); n > 0 {
		t.Errorf("AppendMessage: %v allocs", n)
	}
}
