package protocol

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// AppendMessage writes the envelope by hand, as ASP.NET lays it out: an
// Invocation has 5 elements, or 6 with stream ids; a Completion has 4 when
// void and 5 otherwise; a Close always has 3; headers are always a map
// (0x80 when empty), with keys sorted. Values are written directly when they
// are nil, strings, booleans, numbers or []byte (as bin); a msgpack.RawMessage
// is checked to be one valid value and copied verbatim; a json.RawMessage is
// transcoded; anything else goes through a pooled msgpack encoder. On error
// dst is returned unchanged.
func (msgpackProtocol) AppendMessage(dst []byte, m Message) ([]byte, error) {
	if _, ok := m.(*Ping); ok {
		return append(dst, 2, 0x91, byte(TypePing)), nil
	}
	start := len(dst)
	dst = append(dst, 0) // room for a one-byte length prefix
	var err error
	switch m := m.(type) {
	case *Invocation:
		if m == nil {
			return dst[:start], errNilMessage(m)
		}
		dst, err = appendMPInvocation(dst, TypeInvocation, m.Headers, m.InvocationID, m.Target, m.Arguments, m.StreamIDs)
	case *StreamInvocation:
		if m == nil {
			return dst[:start], errNilMessage(m)
		}
		dst, err = appendMPInvocation(dst, TypeStreamInvocation, m.Headers, m.InvocationID, m.Target, m.Arguments, m.StreamIDs)
	case *StreamItem:
		if m == nil {
			return dst[:start], errNilMessage(m)
		}
		dst = append(dst, 0x94, byte(TypeStreamItem))
		dst = appendMPString(appendMPHeaders(dst, m.Headers), m.InvocationID)
		dst, err = appendMsgPackValue(dst, m.Item)
	case *Completion:
		if m == nil {
			return dst[:start], errNilMessage(m)
		}
		dst, err = appendMPCompletion(dst, m)
	case *CancelInvocation:
		if m == nil {
			return dst[:start], errNilMessage(m)
		}
		dst = append(dst, 0x93, byte(TypeCancelInvocation))
		dst = appendMPString(appendMPHeaders(dst, m.Headers), m.InvocationID)
	case *Close:
		if m == nil {
			return dst[:start], errNilMessage(m)
		}
		dst = appendMPClose(dst, m)
	case *Ack:
		if m == nil {
			return dst[:start], errNilMessage(m)
		}
		dst = appendMPInt(append(dst, 0x92, byte(TypeAck)), m.SequenceID)
	case *Sequence:
		if m == nil {
			return dst[:start], errNilMessage(m)
		}
		dst = appendMPInt(append(dst, 0x92, byte(TypeSequence)), m.SequenceID)
	default:
		return dst[:start], fmt.Errorf("protocol: cannot encode %T: %w", m, ErrUnknownType)
	}
	if err != nil {
		return dst[:start], err
	}
	return putLengthPrefix(dst, start)
}

func appendMPCompletion(dst []byte, m *Completion) ([]byte, error) {
	n := byte(5)
	if m.Error == "" && !m.HasResult {
		n = 4
	}
	dst = append(dst, 0x90|n, byte(TypeCompletion))
	dst = appendMPString(appendMPHeaders(dst, m.Headers), m.InvocationID)
	switch {
	case m.Error != "":
		return appendMPString(append(dst, resultError), m.Error), nil
	case m.HasResult:
		return appendMsgPackValue(append(dst, resultNonVoid), m.Result)
	}
	return append(dst, resultVoid), nil
}

func appendMPClose(dst []byte, m *Close) []byte {
	dst = append(dst, 0x93, byte(TypeClose))
	if m.Error == "" {
		dst = append(dst, mpNil)
	} else {
		dst = appendMPString(dst, m.Error)
	}
	return appendMPBool(dst, m.AllowReconnect)
}

// putLengthPrefix writes the VarInt length of dst[start+1:] at start, where
// one byte was kept for it, moving the body up when the prefix needs more.
func putLengthPrefix(dst []byte, start int) ([]byte, error) {
	n := len(dst) - start - 1
	if n > math.MaxInt32 {
		return dst[:start], fmt.Errorf("protocol: a %d-byte message is too large for MessagePack framing", n)
	}
	if n < 0x80 {
		dst[start] = byte(n)
		return dst, nil
	}
	var pre [maxVarIntBytes]byte
	p := appendVarInt(pre[:0], n)
	dst = append(dst, p[1:]...) // grow by the extra prefix bytes
	copy(dst[start+len(p):], dst[start+1:start+1+n])
	copy(dst[start:], p)
	return dst, nil
}

func appendMPInvocation(dst []byte, t MessageType, h map[string]string, id, target string, args []any, streamIDs []string) ([]byte, error) {
	n := byte(5)
	if len(streamIDs) > 0 {
		n = 6
	}
	dst = appendMPHeaders(append(dst, 0x90|n, byte(t)), h)
	if id == "" && t == TypeInvocation {
		dst = append(dst, mpNil)
	} else {
		dst = appendMPString(dst, id)
	}
	dst = appendMPArray(appendMPString(dst, target), len(args))
	for _, a := range args {
		var err error
		if dst, err = appendMsgPackValue(dst, a); err != nil {
			return dst, err
		}
	}
	if n == 6 {
		dst = appendMPArray(dst, len(streamIDs))
		for _, s := range streamIDs {
			dst = appendMPString(dst, s)
		}
	}
	return dst, nil
}

// appendMPHeaders writes the headers map with its keys sorted, so that equal
// messages encode to equal bytes.
func appendMPHeaders(dst []byte, h map[string]string) []byte {
	dst = appendMPMap(dst, len(h))
	switch len(h) {
	case 0:
		return dst
	case 1:
		for k, v := range h {
			dst = appendMPString(appendMPString(dst, k), v)
		}
		return dst
	}
	for _, k := range slices.Sorted(maps.Keys(h)) {
		dst = appendMPString(appendMPString(dst, k), h[k])
	}
	return dst
}

// appendMsgPackValue writes one argument, item or result.
func appendMsgPackValue(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, mpNil), nil
	case msgpack.RawMessage:
		if len(x) == 0 {
			return append(dst, mpNil), nil
		}
		if err := validMsgPack(x); err != nil {
			return dst, fmt.Errorf("protocol: encoding a msgpack.RawMessage value: %w", err)
		}
		return append(dst, x...), nil
	case json.RawMessage:
		return appendJSONAsMsgPack(dst, x)
	case string:
		return appendMPString(dst, x), nil
	case bool:
		return appendMPBool(dst, x), nil
	case int:
		return appendMPInt(dst, int64(x)), nil
	case int64:
		return appendMPInt(dst, x), nil
	case int32:
		return appendMPInt(dst, int64(x)), nil
	case uint64:
		return appendMPUint(dst, x), nil
	case float64:
		return appendMPFloat64(dst, x), nil
	case []byte:
		if x == nil {
			return append(dst, mpNil), nil
		}
		return appendMPBin(dst, x), nil
	}
	e := encoders.Get().(*mpEncoder)
	e.w.buf = dst
	err := e.enc.Encode(v)
	out := e.w.buf
	e.w.buf = nil
	encoders.Put(e)
	if err != nil {
		return dst, fmt.Errorf("protocol: encoding a %T value: %w", v, err)
	}
	return out, nil
}

// mpEncoder is an encoder set up for hub values, appending to a slice.
type mpEncoder struct {
	w   appendWriter
	enc *msgpack.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := new(mpEncoder)
	e.enc = msgpack.NewEncoder(&e.w)
	e.enc.SetCustomStructTag("json")
	e.enc.UseCompactInts(true)
	e.enc.SetSortMapKeys(true)
	return e
}}

// appendWriter is an io.Writer and io.ByteWriter that appends to buf.
type appendWriter struct{ buf []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.buf = append(w.buf, c)
	return nil
}

// appendJSONAsMsgPack transcodes one JSON value. Numbers become integers
// when they are integers that fit, float64 otherwise; object keys are sorted.
func appendJSONAsMsgPack(dst []byte, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return append(dst, mpNil), nil
	}
	if err := validJSON(raw); err != nil {
		return dst, fmt.Errorf("protocol: encoding a json.RawMessage value: %w", err)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return dst, fmt.Errorf("protocol: encoding a json.RawMessage value: %w", err)
	}
	return appendJSONValue(dst, v), nil
}

func appendJSONValue(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, mpNil)
	case bool:
		return appendMPBool(dst, x)
	case string:
		return appendMPString(dst, x)
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return appendMPInt(dst, i)
		}
		if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return appendMPUint(dst, u)
		}
		f, _ := strconv.ParseFloat(string(x), 64) // valid JSON; ±Inf when out of range
		return appendMPFloat64(dst, f)
	case []any:
		dst = appendMPArray(dst, len(x))
		for _, e := range x {
			dst = appendJSONValue(dst, e)
		}
		return dst
	case map[string]any:
		dst = appendMPMap(dst, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			dst = appendJSONValue(appendMPString(dst, k), x[k])
		}
		return dst
	}
	panic(fmt.Sprintf("protocol: unexpected %T from encoding/json", v))
}

func appendMPBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, mpTrue)
	}
	return append(dst, mpFalse)
}

// appendMPInt writes n in its shortest form, as msgpack's UseCompactInts.
func appendMPInt(dst []byte, n int64) []byte {
	switch {
	case n >= 0:
		return appendMPUint(dst, uint64(n))
	case n >= -32:
		return append(dst, byte(n))
	case n >= math.MinInt8:
		return append(dst, mpInt8, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, mpInt16), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, mpInt32), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, mpInt64), uint64(n))
}

func appendMPUint(dst []byte, n uint64) []byte {
	switch {
	case n <= 0x7f:
		return append(dst, byte(n))
	case n <= math.MaxUint8:
		return append(dst, mpUint8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, mpUint16), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, mpUint32), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, mpUint64), n)
}

func appendMPFloat64(dst []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, mpFloat64), math.Float64bits(f))
}

// appendMPString writes s as a str, whatever bytes it holds.
func appendMPString(dst []byte, s string) []byte {
	n := len(s)
	switch {
	case n <= 31:
		dst = append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, mpStr8, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, mpStr16), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, mpStr32), uint32(n))
	}
	return append(dst, s...)
}

func appendMPBin(dst []byte, b []byte) []byte {
	n := len(b)
	switch {
	case n <= math.MaxUint8:
		dst = append(dst, mpBin8, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, mpBin16), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, mpBin32), uint32(n))
	}
	return append(dst, b...)
}

func appendMPArray(dst []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(dst, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, mpArray16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, mpArray32), uint32(n))
}

func appendMPMap(dst []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(dst, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, mpMap16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, mpMap32), uint32(n))
}
