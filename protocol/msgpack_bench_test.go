package protocol

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func BenchmarkMessagePackReadInvocation(b *testing.B) {
	data, _ := MessagePack.AppendMessage(nil, &Invocation{InvocationID: "12", Target: "SendMessage",
		Arguments: []any{"alice", "Hello, how is everyone doing today?"}})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := MessagePack.ReadMessage(data, 32<<10); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMessagePackReadBatch reads 10 frames from one buffer, as a
// client's send queue joins them.
func BenchmarkMessagePackReadBatch(b *testing.B) {
	var data []byte
	for i := range 10 {
		data, _ = MessagePack.AppendMessage(data, &Invocation{
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
			if _, rest, err = MessagePack.ReadMessage(rest, 32<<10); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkMessagePackAppendInvocation encodes a broadcast: two string
// arguments of about 100 bytes in all, into a reused buffer.
func BenchmarkMessagePackAppendInvocation(b *testing.B) {
	m := &Invocation{Target: "ReceiveMessage", Arguments: []any{
		"alice-the-user-name",
		"Hello everyone, this is a chat message of about eighty bytes in all. \"Quoted\"!",
	}}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		out, err := MessagePack.AppendMessage(buf[:0], m)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}

func BenchmarkMessagePackAppendCompletion(b *testing.B) {
	for _, bc := range []struct {
		name   string
		result any
	}{
		{"int", 42},
		{"raw", msgpack.RawMessage("\x83\xa2id\x2a\xa4name\xa5alice\xa4tags\x92\xa1a\xa1b")},
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
				if _, err := MessagePack.AppendMessage(buf[:0], m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMessagePackBind(b *testing.B) {
	type user struct {
		ID   int      `json:"id"`
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	raw := msgpack.RawMessage("\x83\xa2id\x2a\xa4name\xa5alice\xa4tags\x92\xa1a\xa1b")
	b.ReportAllocs()
	for b.Loop() {
		var u user
		if err := MessagePack.Bind(raw, &u); err != nil {
			b.Fatal(err)
		}
	}
}
