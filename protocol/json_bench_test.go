package protocol

import (
	"encoding/json"
	"testing"
)

func BenchmarkJSONReadInvocation(b *testing.B) {
	data := []byte(`{"type":1,"invocationId":"12","target":"SendMessage","arguments":["alice","Hello, how is everyone doing today?"]}` + "\x1e")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := JSON.ReadMessage(data, 32<<10); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONReadBatch reads 10 records from one buffer, as a client's
// send queue joins them.
func BenchmarkJSONReadBatch(b *testing.B) {
	var data []byte
	for i := range 10 {
		data, _ = JSON.AppendMessage(data, &Invocation{
			InvocationID: string(rune('0' + i)), Target: "SendMessage",
			Arguments: []any{"alice", "Hello, how is everyone doing today?"},
		})
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		rest := data
		for len(rest) > 0 {
			var err error
			if _, rest, err = JSON.ReadMessage(rest, 32<<10); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkJSONAppendInvocation encodes a broadcast: two string arguments of
// about 100 bytes in all, into a reused buffer.
func BenchmarkJSONAppendInvocation(b *testing.B) {
	m := &Invocation{Target: "ReceiveMessage", Arguments: []any{
		"alice-the-user-name",
		"Hello everyone, this is a chat message of about eighty bytes in all. \"Quoted\"!",
	}}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		out, err := JSON.AppendMessage(buf[:0], m)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}

func BenchmarkJSONAppendCompletion(b *testing.B) {
	for _, bc := range []struct {
		name   string
		result any
	}{
		{"int", 42},
		{"raw", json.RawMessage(`{"id":42,"name":"alice","tags":["a","b"]}`)},
		{"struct", struct {
			ID   int      `json:"id"`
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		}{42, "alice", []string{"a", "b"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m := &Completion{InvocationID: "12", HasResult: true, Result: bc.result}
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := JSON.AppendMessage(buf[:0], m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadHandshake(b *testing.B) {
	data := []byte("{\"protocol\":\"json\",\"version\":1}\x1e")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ReadHandshake(data, 32<<10); err != nil {
			b.Fatal(err)
		}
	}
}
