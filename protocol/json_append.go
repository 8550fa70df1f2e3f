package protocol

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"
)

// AppendMessage writes the envelope by hand. Values go through json.Marshal,
// except nil, strings, booleans and integers, which are written directly, and
// json.RawMessage, which is checked to be one valid JSON value and copied
// verbatim. No output can hold a raw RecordSeparator: it is a control
// character, so it is escaped inside strings and invalid outside them. On
// error dst is returned unchanged.
func (jsonProtocol) AppendMessage(dst []byte, m Message) ([]byte, error) {
	start := len(dst)
	var err error
	switch m := m.(type) {
	case *Invocation:
		if m == nil {
			return dst, errNilMessage(m)
		}
		dst, err = appendInvocation(dst, `{"type":1`, m.InvocationID, m.Target, m.Arguments, m.StreamIDs, m.Headers)
	case *StreamInvocation:
		if m == nil {
			return dst, errNilMessage(m)
		}
		dst, err = appendInvocation(dst, `{"type":4`, m.InvocationID, m.Target, m.Arguments, m.StreamIDs, m.Headers)
	case *StreamItem:
		if m == nil {
			return dst, errNilMessage(m)
		}
		dst = appendInvocationID(append(dst, `{"type":2`...), m.InvocationID)
		dst = append(dst, `,"item":`...)
		if dst, err = appendValue(dst, m.Item); err == nil {
			dst = appendHeaders(dst, m.Headers)
		}
	case *Completion:
		if m == nil {
			return dst, errNilMessage(m)
		}
		dst, err = appendCompletion(dst, m)
	case *CancelInvocation:
		if m == nil {
			return dst, errNilMessage(m)
		}
		dst = appendInvocationID(append(dst, `{"type":5`...), m.InvocationID)
		dst = appendHeaders(dst, m.Headers)
	case *Ping:
		dst = append(dst, `{"type":6`...)
	case *Close:
		if m == nil {
			return dst, errNilMessage(m)
		}
		dst = appendClose(dst, m)
	case *Ack:
		if m == nil {
			return dst, errNilMessage(m)
		}
		dst = strconv.AppendInt(append(dst, `{"type":8,"sequenceId":`...), m.SequenceID, 10)
	case *Sequence:
		if m == nil {
			return dst, errNilMessage(m)
		}
		dst = strconv.AppendInt(append(dst, `{"type":9,"sequenceId":`...), m.SequenceID, 10)
	default:
		return dst, fmt.Errorf("protocol: cannot encode %T: %w", m, ErrUnknownType)
	}
	if err != nil {
		return dst[:start], err
	}
	return append(dst, '}', RecordSeparator), nil
}

func appendCompletion(dst []byte, m *Completion) (_ []byte, err error) {
	dst = appendInvocationID(append(dst, `{"type":3`...), m.InvocationID)
	switch {
	case m.Error != "":
		dst = appendString(append(dst, `,"error":`...), m.Error)
	case m.HasResult:
		if dst, err = appendValue(append(dst, `,"result":`...), m.Result); err != nil {
			return dst, err
		}
	}
	return appendHeaders(dst, m.Headers), nil
}

func appendClose(dst []byte, m *Close) []byte {
	dst = append(dst, `{"type":7`...)
	if m.Error != "" {
		dst = appendString(append(dst, `,"error":`...), m.Error)
	}
	if m.AllowReconnect {
		dst = append(dst, `,"allowReconnect":true`...)
	}
	return dst
}

func errNilMessage(m Message) error {
	return fmt.Errorf("protocol: cannot encode a nil %T", m)
}

func appendInvocation(dst []byte, prefix, id, target string, args []any, streamIDs []string, h map[string]string) ([]byte, error) {
	dst = appendInvocationID(append(dst, prefix...), id)
	dst = appendString(append(dst, `,"target":`...), target)
	dst = append(dst, `,"arguments":[`...)
	for i, a := range args {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendValue(dst, a); err != nil {
			return dst, err
		}
	}
	dst = append(dst, ']')
	if len(streamIDs) > 0 {
		dst = append(dst, `,"streamIds":[`...)
		for i, id := range streamIDs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, id)
		}
		dst = append(dst, ']')
	}
	return appendHeaders(dst, h), nil
}

func appendInvocationID(dst []byte, id string) []byte {
	if id == "" {
		return dst
	}
	return appendString(append(dst, `,"invocationId":`...), id)
}

// appendHeaders writes non-empty headers with their keys sorted, so that
// equal messages encode to equal bytes.
func appendHeaders(dst []byte, h map[string]string) []byte {
	if len(h) == 0 {
		return dst
	}
	dst = append(dst, `,"headers":{`...)
	if len(h) == 1 {
		for k, v := range h {
			dst = appendString(dst, k)
			dst = appendString(append(dst, ':'), v)
		}
		return append(dst, '}')
	}
	for i, k := range slices.Sorted(maps.Keys(h)) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = appendString(append(dst, ':'), h[k])
	}
	return append(dst, '}')
}

// appendValue writes one argument, item or result.
func appendValue(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case json.RawMessage:
		if len(x) == 0 {
			return append(dst, "null"...), nil
		}
		if err := validJSON(x); err != nil {
			return dst, fmt.Errorf("protocol: encoding a json.RawMessage value: %w", err)
		}
		return append(dst, x...), nil
	case string:
		return appendString(dst, x), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("protocol: encoding a %T value: %w", v, err)
	}
	return append(dst, b...), nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Control characters (RecordSeparator
// among them), '"' and '\\' are escaped; invalid UTF-8 becomes U+FFFD, as
// encoding/json does.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if strSafe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
