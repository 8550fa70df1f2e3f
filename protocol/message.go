package protocol

import "errors"

// MessageType is the numeric "type" of a hub message, as on the wire.
type MessageType byte

// The hub message types of the SignalR hub protocol.
const (
	TypeInvocation       MessageType = 1
	TypeStreamItem       MessageType = 2
	TypeCompletion       MessageType = 3
	TypeStreamInvocation MessageType = 4
	TypeCancelInvocation MessageType = 5
	TypePing             MessageType = 6
	TypeClose            MessageType = 7
	TypeAck              MessageType = 8
	TypeSequence         MessageType = 9
)

// RecordSeparator ends every JSON record and the handshake (0x1E).
const RecordSeparator byte = 0x1E

// Message is one hub message: *Invocation, *StreamInvocation, *StreamItem,
// *Completion, *CancelInvocation, *Ping, *Close, *Ack or *Sequence.
type Message interface {
	Type() MessageType
}

// Values: a decoded message holds each argument, item and result in the
// encoding of the protocol that decoded it (json.RawMessage for JSON,
// msgpack.RawMessage for MessagePack), aliasing the buffer given to the
// decoder; Protocol.Bind turns one into a Go value.
// When encoding, any Go value may be given; a value in the protocol's own raw
// type is written verbatim.

// Invocation asks the peer to run Target. An empty InvocationID makes it
// non-blocking: no Completion is sent back.
type Invocation struct {
	Headers      map[string]string
	InvocationID string
	Target       string
	Arguments    []any
	StreamIDs    []string
}

// StreamInvocation asks the peer to run a streaming method.
type StreamInvocation struct {
	Headers      map[string]string
	InvocationID string
	Target       string
	Arguments    []any
	StreamIDs    []string
}

// StreamItem is one item of a stream.
type StreamItem struct {
	Headers      map[string]string
	InvocationID string
	Item         any
}

// Completion ends an invocation or a stream. Error set means failure;
// otherwise HasResult tells whether Result was sent (a void completion has none).
type Completion struct {
	Headers      map[string]string
	InvocationID string
	Error        string
	HasResult    bool
	Result       any
}

// CancelInvocation asks the peer to stop a stream it produces.
type CancelInvocation struct {
	Headers      map[string]string
	InvocationID string
}

// Ping keeps a connection alive; it carries nothing.
type Ping struct{}

// Close ends a connection, with an optional error and whether the client may reconnect.
type Close struct {
	Error          string
	AllowReconnect bool
}

// Ack acknowledges every message up to SequenceID (stateful reconnect).
type Ack struct {
	SequenceID int64
}

// Sequence tells the peer the id of the next message it will get (stateful reconnect).
type Sequence struct {
	SequenceID int64
}

func (*Invocation) Type() MessageType       { return TypeInvocation }
func (*StreamInvocation) Type() MessageType { return TypeStreamInvocation }
func (*StreamItem) Type() MessageType       { return TypeStreamItem }
func (*Completion) Type() MessageType       { return TypeCompletion }
func (*CancelInvocation) Type() MessageType { return TypeCancelInvocation }
func (*Ping) Type() MessageType             { return TypePing }
func (*Close) Type() MessageType            { return TypeClose }
func (*Ack) Type() MessageType              { return TypeAck }
func (*Sequence) Type() MessageType         { return TypeSequence }

// TransferFormat is what a protocol needs of a transport.
type TransferFormat int

// Transfer formats, numbered as in the SignalR clients.
const (
	Text   TransferFormat = 1
	Binary TransferFormat = 2
)

// Protocol is a hub protocol codec. Implementations are stateless and safe for
// concurrent use.
type Protocol interface {
	// Name is the protocol's handshake name ("json", "messagepack").
	Name() string
	// Version is the highest protocol version it speaks.
	Version() int
	// TransferFormat is Text for JSON and Binary for MessagePack.
	TransferFormat() TransferFormat
	// ReadMessage decodes the first message of data, which holds one or more
	// whole or partial messages. It returns the message and the bytes after it.
	// Values in m alias data. A message longer than maxSize bytes (0 = no
	// limit) gives ErrTooLarge as soon as that is known, without waiting for
	// its end. data with no whole message gives ErrIncomplete. A malformed
	// message gives an error wrapping ErrInvalid; unknown message types give
	// ErrUnknownType (the caller may skip it: rest is still valid).
	ReadMessage(data []byte, maxSize int) (m Message, rest []byte, err error)
	// AppendMessage appends the framed encoding of m (with its separator or
	// length prefix) to dst.
	AppendMessage(dst []byte, m Message) ([]byte, error)
	// Bind decodes value, one decoded argument, item or result, into the
	// Go value v points to.
	Bind(value any, v any) error
}

// Errors of the codecs. Wrapped errors carry detail; test with errors.Is.
var (
	ErrIncomplete  = errors.New("protocol: incomplete message")
	ErrTooLarge    = errors.New("protocol: message too large")
	ErrInvalid     = errors.New("protocol: invalid message")
	ErrUnknownType = errors.New("protocol: unknown message type")
)
