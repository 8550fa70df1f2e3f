package protocol

import (
	"bytes"
	"fmt"
	"math"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// MessagePack is the SignalR MessagePack hub protocol: each message is a
// MessagePack array behind a VarInt length prefix. It speaks versions 1 and 2
// and needs a Binary transfer format.
//
// ReadMessage decodes arguments, stream items and results as
// msgpack.RawMessage values that alias data; Bind decodes one into a Go value.
// Messages may carry more array elements than their layout names (later
// protocol versions may add some): they are validated and ignored, as ASP.NET
// does. After an ErrInvalid or ErrUnknownType error, rest is the data after
// the bad message.
//
// Go values are encoded with github.com/vmihailenco/msgpack/v5, reading
// struct fields' "json" tags when they have no "msgpack" tag, so that one
// set of hub types serves both protocols; []byte travels as bin, time.Time
// as the timestamp extension. A json.RawMessage value is transcoded.
var MessagePack Protocol = msgpackProtocol{}

var _ Protocol = msgpackProtocol{}

type msgpackProtocol struct{}

func (msgpackProtocol) Name() string                   { return "messagepack" }
func (msgpackProtocol) Version() int                   { return 2 }
func (msgpackProtocol) TransferFormat() TransferFormat { return Binary }

func (msgpackProtocol) ReadMessage(data []byte, maxSize int) (Message, []byte, error) {
	body, rest, err := nextFrame(data, maxSize)
	if err != nil {
		return nil, nil, err
	}
	m, err := parseMsgPack(body)
	if err != nil {
		return nil, rest, err
	}
	return m, rest, nil
}

// parseMsgPack decodes one message body.
func parseMsgPack(body []byte) (Message, error) {
	if len(body) == 0 {
		return nil, invalidf("empty message")
	}
	r := &mpReader{buf: body}
	n, err := r.readArray("the message")
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, invalidf("empty message array")
	}
	typ, err := r.readInt("the message type")
	if err != nil {
		return nil, err
	}
	if typ < int64(TypeInvocation) || typ > int64(TypeSequence) {
		// Newer peers may add types; the caller may skip this one.
		return nil, fmt.Errorf("%w: %d", ErrUnknownType, typ)
	}
	t := MessageType(typ)
	if min := mpMinLen[t]; n < min {
		return nil, invalidf("%s message has %d elements, want at least %d", mpTypeNames[t], n, min)
	}
	var m Message
	switch t {
	case TypeInvocation, TypeStreamInvocation:
		m, err = r.invocation(t, n)
	case TypeStreamItem:
		m, err = r.streamItem()
	case TypeCompletion:
		m, err = r.completion(n)
	case TypeCancelInvocation:
		m, err = r.cancelInvocation()
	case TypePing:
		m = &Ping{}
	case TypeClose:
		m, err = r.close(n)
	case TypeAck:
		var id int64
		id, err = r.readInt("sequenceId")
		m = &Ack{SequenceID: id}
	case TypeSequence:
		var id int64
		id, err = r.readInt("sequenceId")
		m = &Sequence{SequenceID: id}
	}
	if err != nil {
		return nil, err
	}
	if err := r.finish(n - mpUsedLen(t, n)); err != nil {
		return nil, err
	}
	return m, nil
}

// mpMinLen is the array length each message type needs at least.
var mpMinLen = [...]int{
	TypeInvocation:       5,
	TypeStreamItem:       4,
	TypeCompletion:       4,
	TypeStreamInvocation: 5,
	TypeCancelInvocation: 3,
	TypePing:             1,
	TypeClose:            2,
	TypeAck:              2,
	TypeSequence:         2,
}

// mpMaxLen is the array length each message type reads at most.
var mpMaxLen = [...]int{
	TypeInvocation:       6,
	TypeStreamItem:       4,
	TypeCompletion:       5,
	TypeStreamInvocation: 6,
	TypeCancelInvocation: 3,
	TypePing:             1,
	TypeClose:            3,
	TypeAck:              2,
	TypeSequence:         2,
}

var mpTypeNames = [...]string{
	TypeInvocation:       "Invocation",
	TypeStreamItem:       "StreamItem",
	TypeCompletion:       "Completion",
	TypeStreamInvocation: "StreamInvocation",
	TypeCancelInvocation: "CancelInvocation",
	TypePing:             "Ping",
	TypeClose:            "Close",
	TypeAck:              "Ack",
	TypeSequence:         "Sequence",
}

// mpUsedLen is how many of n elements the reader of type t has consumed.
// A void Completion reads 4 elements; a 5th, if any, is extra.
func mpUsedLen(t MessageType, n int) int {
	return min(n, mpMaxLen[t])
}

// finish skips extra elements and checks that nothing follows the array.
func (r *mpReader) finish(extra int) error {
	for range extra {
		if _, err := r.skipValue(2); err != nil {
			return err
		}
	}
	if r.pos != len(r.buf) {
		return invalidf("%d bytes after the message array", len(r.buf)-r.pos)
	}
	return nil
}

// readHeaders reads the headers map; empty gives nil.
func (r *mpReader) readHeaders() (map[string]string, error) {
	n, err := r.readMap("headers")
	if err != nil || n == 0 {
		return nil, err
	}
	h := make(map[string]string, n)
	for range n {
		k, err := r.readStr("a header name")
		if err != nil {
			return nil, err
		}
		v, err := r.readStr("a header value")
		if err != nil {
			return nil, err
		}
		h[string(k)] = string(v)
	}
	return h, nil
}

// requiredID reads an invocation id that must be a non-empty string.
func (r *mpReader) requiredID() (string, error) {
	id, err := r.readString("invocationId")
	if err == nil && id == "" {
		err = invalidf("empty invocationId")
	}
	return id, err
}

// raw returns the value at sp as a msgpack.RawMessage aliasing the body, its
// capacity capped so that appending to it cannot overwrite the body.
func (r *mpReader) raw(sp span) msgpack.RawMessage {
	return msgpack.RawMessage(r.buf[sp.start:sp.end:sp.end])
}

func (r *mpReader) invocation(t MessageType, n int) (Message, error) {
	h, err := r.readHeaders()
	if err != nil {
		return nil, err
	}
	var idb []byte
	if r.peek() == mpNil && t == TypeInvocation {
		r.pos++
	} else if idb, err = r.readStr("invocationId"); err != nil {
		return nil, err
	} else if len(idb) == 0 && t == TypeStreamInvocation {
		return nil, invalidf("empty invocationId")
	}
	targetb, err := r.readStr("target")
	if err != nil {
		return nil, err
	}
	if len(targetb) == 0 {
		return nil, invalidf("empty target")
	}
	both := string(idb) + string(targetb) // one allocation for the two
	id, target := both[:len(idb)], both[len(idb):]
	nArgs, err := r.readArray("arguments")
	if err != nil {
		return nil, err
	}
	var m Message
	var args []any
	if t == TypeStreamInvocation {
		var si *StreamInvocation
		si, args = newWithArgs[StreamInvocation](nArgs)
		*si = StreamInvocation{Headers: h, InvocationID: id, Target: target, Arguments: args}
		m = si
	} else {
		var inv *Invocation
		inv, args = newWithArgs[Invocation](nArgs)
		*inv = Invocation{Headers: h, InvocationID: id, Target: target, Arguments: args}
		m = inv
	}
	for i := range args {
		sp, err := r.skipValue(2)
		if err != nil {
			return nil, err
		}
		args[i] = r.raw(sp)
	}
	if n < 6 {
		return m, nil
	}
	ids, err := r.readStreamIDs()
	if err != nil {
		return nil, err
	}
	if t == TypeStreamInvocation {
		m.(*StreamInvocation).StreamIDs = ids
	} else {
		m.(*Invocation).StreamIDs = ids
	}
	return m, nil
}

// readStreamIDs reads the array of stream ids; empty gives nil.
func (r *mpReader) readStreamIDs() ([]string, error) {
	n, err := r.readArray("streamIds")
	if err != nil || n == 0 {
		return nil, err
	}
	ids := make([]string, n)
	for i := range ids {
		if ids[i], err = r.readString("a stream id"); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// headersAndID reads what most messages start with: the headers, then a
// required invocation id.
func (r *mpReader) headersAndID() (map[string]string, string, error) {
	h, err := r.readHeaders()
	if err != nil {
		return nil, "", err
	}
	id, err := r.requiredID()
	return h, id, err
}

func (r *mpReader) streamItem() (Message, error) {
	h, id, err := r.headersAndID()
	if err != nil {
		return nil, err
	}
	sp, err := r.skipValue(2)
	if err != nil {
		return nil, err
	}
	return &StreamItem{Headers: h, InvocationID: id, Item: r.raw(sp)}, nil
}

// Completion result kinds.
const (
	resultError   = 1
	resultVoid    = 2
	resultNonVoid = 3
)

func (r *mpReader) completion(n int) (Message, error) {
	h, id, err := r.headersAndID()
	if err != nil {
		return nil, err
	}
	kind, err := r.readInt("the result kind")
	if err != nil {
		return nil, err
	}
	m := &Completion{Headers: h, InvocationID: id}
	switch kind {
	case resultVoid:
		if n > 4 {
			_, err = r.skipValue(2) // counted as read by mpUsedLen
		}
		return m, err
	case resultError, resultNonVoid:
		if n < 5 {
			return nil, invalidf("Completion with result kind %d has no result", kind)
		}
	default:
		return nil, invalidf("invalid result kind %d", kind)
	}
	if kind == resultError {
		m.Error, err = r.readString("error")
		return m, err
	}
	sp, err := r.skipValue(2)
	if err != nil {
		return nil, err
	}
	m.HasResult, m.Result = true, r.raw(sp)
	return m, nil
}

func (r *mpReader) cancelInvocation() (Message, error) {
	h, id, err := r.headersAndID()
	if err != nil {
		return nil, err
	}
	return &CancelInvocation{Headers: h, InvocationID: id}, nil
}

func (r *mpReader) close(n int) (Message, error) {
	errText, err := r.readNilOrString("error")
	if err != nil {
		return nil, err
	}
	m := &Close{Error: errText}
	if n > 2 {
		m.AllowReconnect, err = r.readBool("allowReconnect")
	}
	return m, err
}

// Bind decodes value into v. A msgpack.RawMessage value is MessagePack;
// any other Go value (from a call made inside the server) is encoded first.
// Struct fields are matched by their "msgpack" tag, else their "json" tag,
// else their name (exactly: unlike encoding/json, letter case matters).
// Integers bind to float parameters, as in JSON, but a float does not bind to
// an integer. Into an interface, str decodes as string, bin as []byte, ext -1
// as time.Time, arrays as []any and maps with string keys as map[string]any;
// numbers keep their wire width (int8, uint16, float32, ...), except where v
// is an *any, *[]any or *map[string]any: there integers are widened to int64
// (uint64 above MaxInt64) and floats to float64 all the way down.
func (msgpackProtocol) Bind(value any, v any) error {
	var raw []byte
	switch x := value.(type) {
	case msgpack.RawMessage:
		raw = x
	default: // []byte too: it encodes as bin
		b, err := appendMsgPackValue(nil, value)
		if err != nil {
			return fmt.Errorf("protocol: bind messagepack: %w", err)
		}
		raw = b
	}
	if len(raw) == 0 {
		raw = []byte{mpNil}
	}
	d := decoders.Get().(*mpDecoder)
	d.r.Reset(raw)
	err := d.dec.Decode(v)
	d.r.Reset(nil)
	decoders.Put(d)
	if err != nil {
		return fmt.Errorf("protocol: bind messagepack: %w", err)
	}
	switch p := v.(type) {
	case *any:
		*p = widen(*p)
	case *[]any:
		widen(*p)
	case *map[string]any:
		widen(*p)
	}
	return nil
}

// widen turns the numbers in a decoded interface value into int64, uint64
// (above MaxInt64) or float64, in place inside slices and maps.
func widen(v any) any {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
	case float32:
		return float64(x)
	case []any:
		for i, e := range x {
			x[i] = widen(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = widen(e)
		}
	case map[any]any:
		for k, e := range x {
			x[k] = widen(e)
		}
	}
	return v
}

// mpDecoder is a decoder set up for Bind, with the reader it reads.
type mpDecoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decoders = sync.Pool{New: func() any {
	d := new(mpDecoder)
	d.dec = msgpack.NewDecoder(&d.r)
	d.dec.SetCustomStructTag("json")
	return d
}}
