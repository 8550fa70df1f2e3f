package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

type records []record

func (rs *records) onRecord(r *record) error {
	c := *r
	c.arg0 = append([]byte(nil), r.arg0...)
	c.id = append([]byte(nil), r.id...)
	*rs = append(*rs, c)
	return nil
}

func TestJSONInvocationRoundTrip(t *testing.T) {
	b := appendInvocation(nil, JSON, "42", "SendToGroup", "g\"1", "m", "a\\b\n")
	if b[len(b)-1] != recordSeparator {
		t.Fatal("no record separator")
	}
	var m struct {
		Type         int      `json:"type"`
		InvocationID string   `json:"invocationId"`
		Target       string   `json:"target"`
		Arguments    []string `json:"arguments"`
	}
	if err := json.Unmarshal(b[:len(b)-1], &m); err != nil {
		t.Fatal(err)
	}
	if m.Type != 1 || m.InvocationID != "42" || m.Target != "SendToGroup" || strings.Join(m.Arguments, "|") != "g\"1|m|a\\b\n" {
		t.Fatalf("%+v", m)
	}
	if bytes.Contains(appendInvocation(nil, JSON, "", "Echo", "x"), []byte("invocationId")) {
		t.Fatal("a non-blocking invocation carries an id")
	}
}

func TestMessagePackInvocationRoundTrip(t *testing.T) {
	long := strings.Repeat("p", 3000)
	for _, id := range []string{"", "17"} {
		b := appendInvocation(nil, MessagePack, id, "SendToAll", "m", long)
		l, n, err := readVarint(b)
		if err != nil || n == 0 || l != len(b)-n {
			t.Fatalf("varint %d %d %v for %d bytes", l, n, err, len(b))
		}
		var v []any
		if err := msgpack.Unmarshal(b[n:], &v); err != nil {
			t.Fatal(err)
		}
		if len(v) != 5 || v[3] != "SendToAll" {
			t.Fatalf("%v", v)
		}
		if (id == "" && v[2] != nil) || (id != "" && v[2] != id) {
			t.Fatalf("id %v, want %q", v[2], id)
		}
		args := v[4].([]any)
		if len(args) != 2 || args[0] != "m" || args[1] != long {
			t.Fatal("arguments differ")
		}
	}
}

func TestScanJSON(t *testing.T) {
	msg := []byte(`{"type":1,"target":"m","arguments":["1700000000000000000:xxx"]}` + "\x1e" +
		`{ "type" : 3, "invocationId" : "123", "result" : "x" }` + "\x1e" +
		`{"type":3,"invocationId":"9","error":"boom"}` + "\x1e" +
		`{"type":3,"invocationId":"8","result":null}` + "\x1e" +
		`{"type":6}` + "\x1e" + `{"type":7,"error":"bye"}` + "\x1e")
	var rs records
	if err := eachRecord(JSON, msg, &rs); err != nil {
		t.Fatal(err)
	}
	if len(rs) != 6 || rs[0].typ != 1 || string(rs[0].arg0) != "1700000000000000000:xxx" ||
		rs[1].typ != 3 || string(rs[1].id) != "123" || rs[1].failed || !rs[2].failed || rs[3].failed ||
		rs[4].typ != 6 || rs[5].typ != 7 {
		t.Fatalf("%+v", rs)
	}
	if err := eachRecord(JSON, []byte(`{"type":1}`), &rs); err == nil {
		t.Fatal("a record without 0x1E was accepted")
	}
}

func TestScanMessagePack(t *testing.T) {
	frame := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return append(appendVarint(nil, len(b)), b...)
	}
	hdr := map[string]string{"traceparent": "00-abc"}
	arg := payloadArg(1700000000000000000, 300)
	var msg []byte
	msg = append(msg, frame([]any{1, hdr, nil, "m", []any{arg, 1.5, []byte{1}}})...)
	msg = append(msg, frame([]any{3, map[string]string{}, "55", 3, map[string]any{"a": []int{1, 2}}})...)
	msg = append(msg, frame([]any{3, hdr, "56", 1, "failed"})...)
	msg = append(msg, frame([]any{3, hdr, "57", 2})...)
	msg = append(msg, 0x02, 0x91, 0x06)
	var rs records
	if err := eachRecord(MessagePack, msg, &rs); err != nil {
		t.Fatal(err)
	}
	if len(rs) != 5 || string(rs[0].arg0) != arg || string(rs[1].id) != "55" || rs[1].failed ||
		!rs[2].failed || rs[3].failed || rs[4].typ != 6 {
		t.Fatalf("%+v", rs)
	}
}

func TestPayloadStamp(t *testing.T) {
	now := time.Now().UnixNano()
	for _, size := range []int{21, 100, 2048} {
		a := payloadArg(now, size)
		if len(a) != size {
			t.Fatalf("size %d: got %d bytes", size, len(a))
		}
		if ts, ok := stampOf([]byte(a)); !ok || ts != now {
			t.Fatalf("stamp %d %v", ts, ok)
		}
	}
	if _, ok := stampOf([]byte("12ab")); ok {
		t.Fatal("no colon, yet a stamp")
	}
}

func TestHandshakeResponse(t *testing.T) {
	if err := parseHandshakeResponse([]byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := parseHandshakeResponse([]byte(`{"error":"The protocol 'messagepack' is not supported."}`)); err == nil || !isUnsupported(err) {
		t.Fatalf("got %v", err)
	}
}

// FuzzRecords: the record scanners never panic nor read out of bounds.
func FuzzRecords(f *testing.F) {
	f.Add([]byte(`{"type":1,"arguments":["1:x"]}`+"\x1e"), false)
	f.Add([]byte(`{"type":3,"invocationId":"1","error":"e"}`+"\x1e"), false)
	f.Add(appendInvocation(nil, MessagePack, "1", "m", "x"), true)
	f.Add([]byte{0x05, 0x95, 0x03, 0x80, 0xA1, 0x31}, true)
	f.Fuzz(func(t *testing.T, data []byte, mp bool) {
		p := JSON
		if mp {
			p = MessagePack
		}
		var rs records
		_ = eachRecord(p, data, &rs)
		_, _ = mpSkip(data)
	})
}
