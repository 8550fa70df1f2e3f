// Package protocol owns the SignalR hub protocol codecs: the handshake
// (ReadHandshake, AppendHandshakeResponse), the hub message types (Invocation,
// Completion, Ping, ...) and the Protocol implementations that frame, decode
// and encode them: JSON (json.go) and MessagePack (msgpack.go).
//
// Everything here is a pure function over byte slices: no goroutines, no I/O,
// no shared state, so every Protocol is safe for concurrent use. The caller
// owns the buffers:
//
//   - ReadMessage and ReadHandshake take whatever bytes a transport delivered
//     (several records, or part of one) and decode the first record. Decoded
//     strings are copies, but arguments, stream items and results alias the
//     input buffer (json.RawMessage for JSON, msgpack.RawMessage for
//     MessagePack): they are valid until the caller reuses that buffer. Bind
//     them (or copy them) before that.
//   - AppendMessage appends one framed message to dst and allocates nothing
//     else for common values, so a broadcast is encoded once into one buffer
//     and the same bytes are written to every recipient.
//
// Go errors from this package are the sentinels ErrIncomplete (read more
// bytes), ErrTooLarge (over the caller's limit, reported before the end of the
// record arrives), ErrInvalid (a malformed message; the connection should be
// closed) and ErrUnknownType (a message type from a newer peer; skip it), with
// detail added by wrapping. They are not the error texts a client sees: those
// belong to the hub.
//
// A server reads the handshake, answers it, then reads hub messages:
//
//	req, rest, err := protocol.ReadHandshake(buf, 32<<10)
//	if err != nil { ... }
//	out := protocol.AppendHandshakeResponse(nil, "")
//	for len(rest) > 0 {
//		m, next, err := protocol.JSON.ReadMessage(rest, 32<<10)
//		if errors.Is(err, protocol.ErrIncomplete) {
//			break // keep rest and wait for more bytes
//		}
//		...
//		rest = next
//	}
//	out, err = protocol.JSON.AppendMessage(out, &protocol.Invocation{
//		Target:    "ReceiveMessage",
//		Arguments: []any{"alice", "hello"},
//	})
package protocol
