package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files and fuzz seeds in testdata")

type raw = json.RawMessage

// goldenMessages are encoded to testdata/json/<name>.golden and decoded back.
// Their values are json.RawMessage so that decoding gives the same message.
var goldenMessages = []struct {
	name string
	m    Message
}{
	{"invocation_nonblocking", &Invocation{Target: "SendMessage", Arguments: []any{raw(`"alice"`), raw(`"hello"`)}}},
	{"invocation_blocking", &Invocation{InvocationID: "1", Target: "Add", Arguments: []any{raw(`1`), raw(`2.5`)}}},
	{"invocation_no_args", &Invocation{InvocationID: "2", Target: "Ping", Arguments: []any{}}},
	{"invocation_streams_headers", &Invocation{
		Headers:      map[string]string{"traceparent": "00-abc-01", "a": "b"},
		InvocationID: "3", Target: "Upload",
		Arguments: []any{raw(`{"x":[1,null,true]}`)}, StreamIDs: []string{"0", "1"},
	}},
	{"stream_invocation", &StreamInvocation{InvocationID: "4", Target: "Counter", Arguments: []any{raw(`10`), raw(`500`)}}},
	{"stream_invocation_streams", &StreamInvocation{InvocationID: "5", Target: "Echo", Arguments: []any{}, StreamIDs: []string{"7"}}},
	{"stream_item", &StreamItem{InvocationID: "4", Item: raw(`{"n":1}`)}},
	{"stream_item_null", &StreamItem{InvocationID: "4", Item: raw(`null`), Headers: map[string]string{"k": "v"}}},
	{"completion_result", &Completion{InvocationID: "1", HasResult: true, Result: raw(`3.5`)}},
	{"completion_null_result", &Completion{InvocationID: "1", HasResult: true, Result: raw(`null`)}},
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
	{"escapes", &Invocation{
		InvocationID: "id\x1e\"\\/😀",
		Target:       "T\u00e9st\x00\x01\x1f\t\n\r\b\f\u2028",
		Arguments:    []any{raw(`"\u001e\ud83d\ude00"`)},
		Headers:      map[string]string{"\x1e": "😀\x7f"},
	}},
}

func goldenPath(name string) string { return filepath.Join("testdata", "json", name+".golden") }

func TestJSONProtocolInfo(t *testing.T) {
	if JSON.Name() != "json" || JSON.Version() != 2 || JSON.TransferFormat() != Text {
		t.Fatalf("got %q v%d format %d", JSON.Name(), JSON.Version(), JSON.TransferFormat())
	}
}

func TestJSONGolden(t *testing.T) {
	for _, tc := range goldenMessages {
		t.Run(tc.name, func(t *testing.T) {
			got, err := JSON.AppendMessage(nil, tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(goldenPath(tc.name), got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(goldenPath(tc.name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded\n got %q\nwant %q", got, want)
			}
			if !json.Valid(got[:len(got)-1]) {
				t.Fatalf("not valid JSON: %q", got)
			}
			m, rest, err := JSON.ReadMessage(want, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(rest) != 0 {
				t.Fatalf("rest = %q", rest)
			}
			if !reflect.DeepEqual(m, tc.m) {
				t.Fatalf("decoded\n got %#v\nwant %#v", m, tc.m)
			}
		})
	}
}

// TestJSONPing pins the exact bytes the spec gives.
func TestJSONPing(t *testing.T) {
	got, err := JSON.AppendMessage([]byte("x"), &Ping{})
	if err != nil || string(got) != "x{\"type\":6}\x1e" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestJSONDecode(t *testing.T) {
	tests := []struct {
		name, in string
		want     Message
	}{
		{"js client send", `{"arguments":["a","b"],"target":"Send","type":1}`,
			&Invocation{Target: "Send", Arguments: []any{raw(`"a"`), raw(`"b"`)}}},
		{"white space", " \t\r\n{ \"type\" : 1 , \"target\" : \"T\" , \"arguments\" : [ 1 , [ ] , { } ] } \n",
			&Invocation{Target: "T", Arguments: []any{raw(`1`), raw(`[ ]`), raw(`{ }`)}}},
		{"unknown properties skipped", `{"x":{"y":[1,{"z":"\u001e"}]},"type":1,"target":"T","arguments":[],"n":-1.5e+3,"b":false,"z":null}`,
			&Invocation{Target: "T", Arguments: []any{}}},
		{"escaped property names", `{"typ\u0065":1,"\u0074arget":"T","arguments":[]}`,
			&Invocation{Target: "T", Arguments: []any{}}},
		{"null invocationId", `{"type":1,"invocationId":null,"target":"T","arguments":[]}`,
			&Invocation{Target: "T", Arguments: []any{}}},
		{"empty invocationId", `{"type":1,"invocationId":"","target":"T","arguments":[]}`,
			&Invocation{Target: "T", Arguments: []any{}}},
		{"last duplicate wins", `{"type":5,"target":"A","target":"B","arguments":[1],"arguments":[2],"type":1}`,
			&Invocation{Target: "B", Arguments: []any{raw(`2`)}}},
		{"empty headers and streamIds", `{"type":1,"target":"T","arguments":[],"headers":{},"streamIds":[]}`,
			&Invocation{Target: "T", Arguments: []any{}}},
		{"string escapes", `{"type":1,"invocationId":"\ud83d\ude00\u001E\"\\\/\b\f\n\r\t","target":"\u00e9😀","arguments":[]}`,
			&Invocation{InvocationID: "😀\x1e\"\\/\b\f\n\r\t", Target: "é😀", Arguments: []any{}}},
		{"header escapes", `{"type":5,"invocationId":"1","headers":{"\ud83d\ude00":"\u0000","a":"b","a":"c"}}`,
			&CancelInvocation{InvocationID: "1", Headers: map[string]string{"😀": "\x00", "a": "c"}}},
		{"stream item null", `{"type":2,"invocationId":"1","item":null}`,
			&StreamItem{InvocationID: "1", Item: raw(`null`)}},
		{"completion error null", `{"type":3,"invocationId":"1","error":null,"result":1}`,
			&Completion{InvocationID: "1", HasResult: true, Result: raw(`1`)}},
		{"completion result before id", `{"result":{"a":"b"},"type":3,"invocationId":"1"}`,
			&Completion{InvocationID: "1", HasResult: true, Result: raw(`{"a":"b"}`)}},
		{"ping with extras", `{"type":6,"foo":[1,2,3]}`, &Ping{}},
		{"close null error", `{"type":7,"error":null,"allowReconnect":false}`, &Close{}},
		{"close", `{"allowReconnect":true,"type":7,"error":"x"}`, &Close{Error: "x", AllowReconnect: true}},
		{"ack negative", `{"type":8,"sequenceId":-9223372036854775808}`, &Ack{SequenceID: -1 << 63}},
		{"sequence max", `{"type":9,"sequenceId":9223372036854775807}`, &Sequence{SequenceID: 1<<63 - 1}},
		{"type after everything", `{"sequenceId":0,"type":9}`, &Sequence{}},
		{"lone surrogate in an unknown name", `{"type":6,"\ud800":1}`, &Ping{}},
		{"lone surrogate in a value", `{"type":2,"invocationId":"1","item":"\ud800"}`,
			&StreamItem{InvocationID: "1", Item: raw(`"\ud800"`)}},
		{"many arguments", `{"type":4,"invocationId":"1","target":"T","arguments":[1, "a" ,{"b":[2]} , null,true,-1.5e3 ]}`,
			&StreamInvocation{InvocationID: "1", Target: "T", Arguments: []any{raw(`1`), raw(`"a"`), raw(`{"b":[2]}`), raw(`null`), raw(`true`), raw(`-1.5e3`)}}},
		{"deepest nesting", `{"type":6,"x":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `}`, &Ping{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, rest, err := JSON.ReadMessage([]byte(tc.in+"\x1enext"), 0)
			if err != nil {
				t.Fatal(err)
			}
			if string(rest) != "next" {
				t.Fatalf("rest = %q", rest)
			}
			if !reflect.DeepEqual(m, tc.want) {
				t.Fatalf("\n got %#v\nwant %#v", m, tc.want)
			}
		})
	}
}

func TestJSONDecodeErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     error
		detail   string
	}{
		{"empty record", ``, ErrInvalid, "expected a JSON object"},
		{"not an object", `[1]`, ErrInvalid, "expected a JSON object"},
		{"trailing data", `{"type":6} {}`, ErrInvalid, "unexpected"},
		{"trailing comma", `{"type":6,}`, ErrInvalid, "unexpected"},
		{"bad literal", `{"type":6,"x":tru}`, ErrInvalid, "unexpected"},
		{"leading zero", `{"type":6,"x":01}`, ErrInvalid, "unexpected"},
		{"bad number", `{"type":6,"x":1.}`, ErrInvalid, "unexpected"},
		{"bad escape", `{"type":6,"x":"\x"}`, ErrInvalid, "invalid escape"},
		{"short unicode escape", `{"type":6,"x":"\u12"}`, ErrInvalid, "invalid escape"},
		{"raw control character", "{\"type\":6,\"x\":\"a\tb\"}", ErrInvalid, "control character"},
		{"unterminated string", `{"type":6,"x":"abc`, ErrInvalid, "unterminated"},
		{"too deep arguments", `{"type":1,"target":"T","arguments":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`, ErrInvalid, "nesting"},
		{"too deep objects", `{"type":6,"x":` + strings.Repeat(`{"a":`, maxDepth-2) + `{"headers":{}}` + strings.Repeat("}", maxDepth-2) + `}`, ErrInvalid, "nesting"},
		{"too deep", `{"type":6,"x":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`, ErrInvalid, "nesting"},
		{"invalid UTF-8 in target", "{\"type\":1,\"target\":\"\xff\",\"arguments\":[]}", ErrInvalid, "UTF-8"},
		{"invalid UTF-8 in argument", "{\"type\":1,\"target\":\"T\",\"arguments\":[\"\xc3\"]}", ErrInvalid, "UTF-8"},
		{"invalid UTF-8 in unknown property", "{\"type\":6,\"x\":\"\xed\xa0\x80\"}", ErrInvalid, "UTF-8"},
		{"invalid UTF-8 in name", "{\"type\":6,\"\xfe\":1}", ErrInvalid, "UTF-8"},
		{"invalid UTF-8 outside strings", "{\"type\":6}\xc3\xa9", ErrInvalid, "unexpected"},
		{"lone surrogate in target", `{"type":1,"target":"\ud800","arguments":[]}`, ErrInvalid, "surrogate"},
		{"reversed surrogates in id", `{"type":5,"invocationId":"\udc00\ud800"}`, ErrInvalid, "surrogate"},
		{"exponent without digits", `{"type":6,"x":1e+}`, ErrInvalid, "unexpected"},
		{"minus alone", `{"type":6,"x":-}`, ErrInvalid, "unexpected"},
		{"missing comma", `{"type":6 "x":1}`, ErrInvalid, "unexpected"},
		{"missing colon", `{"type":6,"x" 1}`, ErrInvalid, "unexpected"},
		{"missing comma in array", `{"type":6,"x":[1 2]}`, ErrInvalid, "unexpected"},
		{"backslash at end", `{"type":6,"x":"\`, ErrInvalid, "invalid escape"},
		{"unicode escape cut", `{"type":6,"x":"\u00`, ErrInvalid, "invalid escape"},
		{"bad hex", `{"type":6,"x":"\u00g0"}`, ErrInvalid, "invalid escape"},
		{"high surrogate then other", `{"type":5,"invocationId":"\ud800\u0041"}`, ErrInvalid, "surrogate"},
		{"high surrogate at end", `{"type":5,"invocationId":"a\ud800"}`, ErrInvalid, "surrogate"},
		{"lone surrogate in close error", `{"type":7,"error":"\udfff"}`, ErrInvalid, "surrogate"},
		{"lone surrogate in completion error", `{"type":3,"invocationId":"1","error":"\udfff"}`, ErrInvalid, "surrogate"},
		{"lone surrogate in stream id", `{"type":1,"target":"T","arguments":[],"streamIds":["1","\ud800"]}`, ErrInvalid, "surrogate"},
		{"sequenceId underflow", `{"type":8,"sequenceId":-9223372036854775809}`, ErrInvalid, "out of range"},
		{"sequenceId overflow", `{"type":8,"sequenceId":92233720368547758070}`, ErrInvalid, "out of range"},
		{"missing type", `{"target":"T","arguments":[]}`, ErrInvalid, "missing required property 'type'"},
		{"case-sensitive type", `{"Type":1,"target":"T","arguments":[]}`, ErrInvalid, "missing required property 'type'"},
		{"case-sensitive target", `{"type":1,"Target":"T","arguments":[]}`, ErrInvalid, "missing required property 'target'"},
		{"type string", `{"type":"1"}`, ErrInvalid, "expected 'type' to be an integer"},
		{"type float", `{"type":1.0}`, ErrInvalid, "expected 'type' to be an integer"},
		{"type exponent", `{"type":1e0}`, ErrInvalid, "expected 'type' to be an integer"},
		{"type null", `{"type":null}`, ErrInvalid, "expected 'type' to be an integer"},
		{"type overflow", `{"type":9223372036854775808}`, ErrInvalid, "out of range"},
		{"invocation without target", `{"type":1,"arguments":[]}`, ErrInvalid, "missing required property 'target'"},
		{"invocation empty target", `{"type":1,"target":"","arguments":[]}`, ErrInvalid, "missing required property 'target'"},
		{"invocation without arguments", `{"type":1,"target":"T"}`, ErrInvalid, "missing required property 'arguments'"},
		{"arguments not array", `{"type":1,"target":"T","arguments":{}}`, ErrInvalid, "expected 'arguments' to be an array"},
		{"arguments null", `{"type":1,"target":"T","arguments":null}`, ErrInvalid, "expected 'arguments' to be an array"},
		{"invocationId number", `{"type":1,"invocationId":1,"target":"T","arguments":[]}`, ErrInvalid, "expected 'invocationId' to be a string"},
		{"target number", `{"type":1,"target":1,"arguments":[]}`, ErrInvalid, "expected 'target' to be a string"},
		{"known property checked on other types", `{"type":6,"target":false}`, ErrInvalid, "expected 'target' to be a string"},
		{"stream invocation without id", `{"type":4,"target":"T","arguments":[]}`, ErrInvalid, "missing required property 'invocationId'"},
		{"stream invocation without target", `{"type":4,"invocationId":"1","arguments":[]}`, ErrInvalid, "missing required property 'target'"},
		{"stream invocation without arguments", `{"type":4,"invocationId":"1","target":"T"}`, ErrInvalid, "missing required property 'arguments'"},
		{"stream item without id", `{"type":2,"item":1}`, ErrInvalid, "missing required property 'invocationId'"},
		{"stream item without item", `{"type":2,"invocationId":"1"}`, ErrInvalid, "missing required property 'item'"},
		{"completion without id", `{"type":3,"result":1}`, ErrInvalid, "missing required property 'invocationId'"},
		{"completion error and result", `{"type":3,"invocationId":"1","error":"e","result":null}`, ErrInvalid, "mutually exclusive"},
		{"completion error not string", `{"type":3,"invocationId":"1","error":1}`, ErrInvalid, "expected 'error' to be a string"},
		{"cancel without id", `{"type":5}`, ErrInvalid, "missing required property 'invocationId'"},
		{"close error not string", `{"type":7,"error":{}}`, ErrInvalid, "expected 'error' to be a string"},
		{"close allowReconnect not bool", `{"type":7,"allowReconnect":"true"}`, ErrInvalid, "expected 'allowReconnect' to be a boolean"},
		{"close allowReconnect null", `{"type":7,"allowReconnect":null}`, ErrInvalid, "expected 'allowReconnect' to be a boolean"},
		{"ack without sequenceId", `{"type":8}`, ErrInvalid, "missing required property 'sequenceId'"},
		{"sequence without sequenceId", `{"type":9}`, ErrInvalid, "missing required property 'sequenceId'"},
		{"sequenceId float", `{"type":8,"sequenceId":1.5}`, ErrInvalid, "expected 'sequenceId' to be an integer"},
		{"sequenceId string", `{"type":9,"sequenceId":"1"}`, ErrInvalid, "expected 'sequenceId' to be an integer"},
		{"headers not object", `{"type":5,"invocationId":"1","headers":[]}`, ErrInvalid, "expected 'headers' to be an object"},
		{"header value not string", `{"type":5,"invocationId":"1","headers":{"a":1}}`, ErrInvalid, "header values to be strings"},
		{"header value null", `{"type":5,"invocationId":"1","headers":{"a":null}}`, ErrInvalid, "header values to be strings"},
		{"header lone surrogate", `{"type":5,"invocationId":"1","headers":{"\udfff":"x"}}`, ErrInvalid, "surrogate"},
		{"streamIds not array", `{"type":1,"target":"T","arguments":[],"streamIds":"0"}`, ErrInvalid, "expected 'streamIds' to be an array"},
		{"streamIds not strings", `{"type":1,"target":"T","arguments":[],"streamIds":[0]}`, ErrInvalid, "expected 'streamIds' to hold only strings"},
		{"unknown type", `{"type":10,"target":5}`, ErrInvalid, "expected 'target' to be a string"},
		{"unknown type 0", `{"type":0}`, ErrUnknownType, "0"},
		{"unknown type 10", `{"type":10,"whatever":[1,2]}`, ErrUnknownType, "10"},
		{"unknown type 257", `{"type":257}`, ErrUnknownType, "257"},
		{"unknown type negative", `{"type":-1}`, ErrUnknownType, "-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, rest, err := JSON.ReadMessage([]byte(tc.in+"\x1e{\"type\":6}\x1e"), 0)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.detail)
			}
			if m != nil {
				t.Fatalf("m = %#v", m)
			}
			// The caller can skip the bad record.
			if m, _, err := JSON.ReadMessage(rest, 0); err != nil || m.Type() != TypePing {
				t.Fatalf("after the bad record: %v, %v", m, err)
			}
		})
	}
}

func TestJSONFraming(t *testing.T) {
	ping := "{\"type\":6}\x1e"
	tests := []struct {
		name    string
		in      string
		maxSize int
		want    error
	}{
		{"empty", "", 0, ErrIncomplete},
		{"no separator", `{"type":6}`, 0, ErrIncomplete},
		{"no separator under limit", `{"type":6}`, 10, ErrIncomplete},
		{"at the limit", ping, 10, nil},
		{"over the limit", ping, 9, ErrTooLarge},
		{"over the limit before the separator", `{"type":6}`, 9, ErrTooLarge},
		{"over the limit, separator far away", `{"type":6` + strings.Repeat(" ", 1000) + "}\x1e", 100, ErrTooLarge},
		{"only the first record counts", ping + strings.Repeat("x", 100), 10, nil},
		{"no limit", `{"type":6` + strings.Repeat(" ", 100000) + "}\x1e", 0, nil},
		{"negative limit is none", ping, -1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, rest, err := JSON.ReadMessage([]byte(tc.in), tc.maxSize)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && m.Type() != TypePing {
				t.Fatalf("m = %#v", m)
			}
			if err != nil && (m != nil || rest != nil) {
				t.Fatalf("m = %#v, rest = %q", m, rest)
			}
		})
	}
}

// goldenStream is every golden frame, one after another.
func goldenStream(t testing.TB) (data []byte, msgs []Message) {
	for _, tc := range goldenMessages {
		var err error
		if data, err = JSON.AppendMessage(data, tc.m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, tc.m)
	}
	return data, msgs
}

func TestJSONSeveralRecords(t *testing.T) {
	data, want := goldenStream(t)
	var got []Message
	for len(data) > 0 {
		m, rest, err := JSON.ReadMessage(data, 1000)
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

// TestJSONPrefixes reads every prefix of a buffer of several records: each
// gives the messages wholly inside it, then ErrIncomplete.
func TestJSONPrefixes(t *testing.T) {
	data, want := goldenStream(t)
	for n := 0; n <= len(data); n++ {
		buf := bytes.Clone(data[:n])
		i := 0
		for {
			m, rest, err := JSON.ReadMessage(buf, 0)
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
		if len(buf) > 0 && bytes.IndexByte(buf, RecordSeparator) >= 0 {
			t.Fatalf("prefix %d: stopped with a whole record left", n)
		}
	}
}

// TestJSONArgumentsAlias checks that values alias the input and cannot be
// appended to over the following bytes.
func TestJSONArgumentsAlias(t *testing.T) {
	data := []byte(`{"type":1,"target":"T","arguments":["a",1]}` + "\x1e")
	m, _, err := JSON.ReadMessage(data, 0)
	if err != nil {
		t.Fatal(err)
	}
	a := m.(*Invocation).Arguments[0].(json.RawMessage)
	_ = append(a, 'X')
	if string(data) != `{"type":1,"target":"T","arguments":["a",1]}`+"\x1e" {
		t.Fatalf("input changed: %q", data)
	}
	data[37] = 'b'
	if string(a) != `"b"` {
		t.Fatalf("argument does not alias the input: %s", a)
	}
}

type point struct {
	X int    `json:"x"`
	Y string `json:"y,omitempty"`
}

func TestJSONEncodeValues(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"nil", nil, `null`},
		{"empty raw", raw(nil), `null`},
		{"raw verbatim", raw(" [1, {\"a\" :\n2}] "), " [1, {\"a\" :\n2}] "},
		{"string", "a\"b\\c\x1e\x00é😀<>&", `"a\"b\\c\u001e\u0000é😀<>&"`},
		{"invalid UTF-8 string", "a\xffb\xc3", `"a\ufffdb\ufffd"`},
		{"bool", true, `true`},
		{"int", -42, `-42`},
		{"int64", int64(1) << 62, `4611686018427387904`},
		{"int32", int32(-7), `-7`},
		{"uint64", uint64(1<<64 - 1), `18446744073709551615`},
		{"float", 1.5, `1.5`},
		{"struct", point{X: 1}, `{"x":1}`},
		{"pointer", &point{X: 2, Y: "\x1e"}, `{"x":2,"y":"\u001e"}`},
		{"bytes are base64", []byte("hi"), `"aGk="`},
		{"map", map[string]any{"b": 1, "a": nil}, `{"a":null,"b":1}`},
		{"slice", []string{"x"}, `["x"]`},
		{"raw pointer", &json.RawMessage{'1'}, `1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := JSON.AppendMessage(nil, &StreamItem{InvocationID: "1", Item: tc.v})
			if err != nil {
				t.Fatal(err)
			}
			want := `{"type":2,"invocationId":"1","item":` + tc.want + "}\x1e"
			if string(got) != want {
				t.Fatalf("\n got %q\nwant %q", got, want)
			}
			if _, _, err := JSON.ReadMessage(got, 0); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestJSONEncodeGoInvocation(t *testing.T) {
	got, err := JSON.AppendMessage(nil, &Invocation{Target: "ReceiveMessage", Arguments: []any{"alice", 7, point{X: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":1,"target":"ReceiveMessage","arguments":["alice",7,{"x":1}]}` + "\x1e"
	if string(got) != want {
		t.Fatalf("\n got %q\nwant %q", got, want)
	}
	// Nil arguments are still an array, as the peer requires one.
	got, _ = JSON.AppendMessage(nil, &Invocation{Target: "T"})
	if string(got) != `{"type":1,"target":"T","arguments":[]}`+"\x1e" {
		t.Fatalf("got %q", got)
	}
	// An error wins over a result.
	got, _ = JSON.AppendMessage(nil, &Completion{InvocationID: "1", Error: "e", HasResult: true, Result: 1})
	if string(got) != `{"type":3,"invocationId":"1","error":"e"}`+"\x1e" {
		t.Fatalf("got %q", got)
	}
	// A result without HasResult is not sent.
	got, _ = JSON.AppendMessage(nil, &Completion{InvocationID: "1", Result: 1})
	if string(got) != `{"type":3,"invocationId":"1"}`+"\x1e" {
		t.Fatalf("got %q", got)
	}
}

type otherMessage struct{}

func (otherMessage) Type() MessageType { return 42 }

func TestJSONEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		m    Message
		want string
	}{
		{"invalid raw", &Invocation{Target: "T", Arguments: []any{raw(`{"a":1`)}}, "json.RawMessage"},
		{"raw with separator", &StreamItem{InvocationID: "1", Item: raw("1\x1e")}, "json.RawMessage"},
		{"raw invalid UTF-8", &Completion{InvocationID: "1", HasResult: true, Result: raw("\"\xff\"")}, "UTF-8"},
		{"two raw values", &StreamItem{InvocationID: "1", Item: raw("1 2")}, "json.RawMessage"},
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
		{"invalid item", &StreamItem{InvocationID: "1", Item: raw(`x`)}, "json.RawMessage"},
		{"foreign message", otherMessage{}, "unknown message type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := JSON.AppendMessage(dst, tc.m)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if string(got) != "keep" {
				t.Fatalf("dst changed: %q", got)
			}
		})
	}
}

// TestJSONNoRawSeparator puts the separator everywhere a string can hold it.
func TestJSONNoRawSeparator(t *testing.T) {
	const s = "a\x1eb"
	h := map[string]string{s: s, "x": s}
	msgs := []Message{
		&Invocation{InvocationID: s, Target: s, Arguments: []any{s, []string{s}, map[string]string{s: s}}, StreamIDs: []string{s}, Headers: h},
		&StreamInvocation{InvocationID: s, Target: s, Arguments: []any{raw(`"\u001e"`)}, Headers: h},
		&StreamItem{InvocationID: s, Item: s, Headers: h},
		&Completion{InvocationID: s, Error: s, Headers: h},
		&Completion{InvocationID: s, HasResult: true, Result: s},
		&CancelInvocation{InvocationID: s, Headers: h},
		&Close{Error: s},
	}
	for _, m := range msgs {
		out, err := JSON.AppendMessage(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.IndexByte(out, RecordSeparator); i != len(out)-1 {
			t.Fatalf("separator at %d in %q", i, out)
		}
		got, _, err := JSON.ReadMessage(out, 0)
		if err != nil {
			t.Fatalf("%q: %v", out, err)
		}
		if got.Type() != m.Type() {
			t.Fatalf("got %#v", got)
		}
	}
}

// TestJSONStringsMatchEncodingJSON checks that our strings decode with
// encoding/json to what was encoded, and that we read encoding/json's.
func TestJSONStringsMatchEncodingJSON(t *testing.T) {
	var all strings.Builder
	for r := rune(0); r < 0x800; r++ {
		all.WriteRune(r)
	}
	for _, s := range []string{"", "plain", "\x1e", "😀", "\u2028\u2029", "\ufffd", "\U0010FFFF", all.String()} {
		var back string
		enc := appendString(nil, s)
		if err := json.Unmarshal(enc, &back); err != nil || back != s {
			t.Fatalf("%q: encoded %q, decoded %q, %v", s, enc, back, err)
		}
		std, _ := json.Marshal(s)
		in := `{"type":1,"target":` + string(std) + `,"arguments":[]}` + "\x1e"
		m, _, err := JSON.ReadMessage([]byte(in), 0)
		if s == "" {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("empty target: %v", err)
			}
			continue
		}
		if err != nil || m.(*Invocation).Target != s {
			t.Fatalf("%q: read %q: %#v, %v", s, std, m, err)
		}
	}
}

func TestJSONBind(t *testing.T) {
	var p point
	if err := JSON.Bind(raw(`{"x":3,"y":"z"}`), &p); err != nil || p != (point{3, "z"}) {
		t.Fatalf("raw: %+v, %v", p, err)
	}
	var n int
	// A []byte is a Go value like any other: it travels as base64, as
	// AppendMessage writes it, and binds back to the same bytes.
	var b []byte
	if err := JSON.Bind([]byte(`12`), &b); err != nil || string(b) != "12" {
		t.Fatalf("bytes: %q, %v", b, err)
	}
	// A Go value from a server-side call.
	p = point{}
	if err := JSON.Bind(map[string]any{"x": 5}, &p); err != nil || p.X != 5 {
		t.Fatalf("go value: %+v, %v", p, err)
	}
	var s *string
	if err := JSON.Bind(raw(nil), &s); err != nil || s != nil {
		t.Fatalf("empty raw: %v, %v", s, err)
	}
	if err := JSON.Bind(raw(`"x"`), &n); err == nil || !strings.HasPrefix(err.Error(), "protocol: bind json: ") {
		t.Fatalf("type mismatch: %v", err)
	} else if _, ok := errors.AsType[*json.UnmarshalTypeError](err); !ok {
		t.Fatalf("not wrapped: %v", err)
	}
	if err := JSON.Bind(make(chan int), &n); err == nil {
		t.Fatal("unmarshalable value bound")
	}
	if err := JSON.Bind(raw(`1`), n); err == nil {
		t.Fatal("bound into a non-pointer")
	}
}
