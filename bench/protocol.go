package bench

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/actorhub/actorhub/protocol"
)

// Protocol is a SignalR hub protocol.
type Protocol int

// The hub protocols the load generator speaks.
const (
	JSON Protocol = iota
	MessagePack
)

// String is the protocol's name in the handshake: "json" or "messagepack".
func (p Protocol) String() string {
	if p == MessagePack {
		return "messagepack"
	}
	return "json"
}

// ParseProtocol accepts "json", "messagepack" or "msgpack".
func ParseProtocol(s string) (Protocol, error) {
	switch s {
	case "json":
		return JSON, nil
	case "messagepack", "msgpack":
		return MessagePack, nil
	}
	return 0, fmt.Errorf("bench: unknown protocol %q (json or messagepack)", s)
}

// Hub message types (signalr-protocol.md §1.9).
const (
	typeInvocation = 1
	typeStreamItem = 2
	typeCompletion = 3
	typePing       = 6
	typeClose      = 7
)

const recordSeparator = 0x1E

var errBadRecord = errors.New("bench: malformed hub message")

// record is what the load generator needs from one incoming hub message.
// Byte slices point into the message and are valid only while it is.
type record struct {
	typ int
	// Invocation: the first argument when it is a string.
	arg0 []byte
	// Completion: the invocation id, and whether it carries an error.
	id     []byte
	failed bool
}

// handshakeRequest is the client's first message.
func handshakeRequest(p Protocol) []byte {
	return []byte(`{"protocol":"` + p.String() + `","version":1}` + "\x1e")
}

// parseHandshakeResponse checks the server's handshake reply (the bytes
// before the first 0x1E). It returns the server's error text as an error.
func parseHandshakeResponse(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return fmt.Errorf("bench: bad handshake response %q", b)
	}
	if i := bytes.Index(b, []byte(`"error"`)); i >= 0 {
		return fmt.Errorf("bench: server refused the handshake: %s", b)
	}
	return nil
}

// appendInvocation appends one framed Invocation of target with string
// arguments; id "" makes it non-blocking (no Completion comes back).
func appendInvocation(dst []byte, p Protocol, id, target string, args ...string) []byte {
	if p == JSON {
		dst = append(dst, `{"type":1,`...)
		if id != "" {
			dst = append(dst, `"invocationId":"`...)
			dst = append(dst, id...)
			dst = append(dst, `",`...)
		}
		dst = append(dst, `"target":`...)
		dst = appendJSONString(dst, target)
		dst = append(dst, `,"arguments":[`...)
		for i, a := range args {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, a)
		}
		return append(dst, "]}\x1e"...)
	}
	body := make([]byte, 0, 16+len(id)+len(target)+totalLen(args)+5*len(args))
	body = append(body, 0x95, typeInvocation, 0x80) // [1, {}, id, target, args]
	if id == "" {
		body = append(body, 0xC0)
	} else {
		body = appendMsgpackString(body, id)
	}
	body = appendMsgpackString(body, target)
	body = appendMsgpackArrayHeader(body, len(args))
	for _, a := range args {
		body = appendMsgpackString(body, a)
	}
	dst = appendVarint(dst, len(body))
	return append(dst, body...)
}

// appendPing appends a framed Ping message.
func appendPing(dst []byte, p Protocol) []byte {
	if p == JSON {
		return append(dst, `{"type":6}`+"\x1e"...)
	}
	return append(dst, 0x02, 0x91, typePing)
}

func totalLen(ss []string) int {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	return n
}

func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

func appendVarint(dst []byte, n int) []byte {
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	return append(dst, byte(n))
}

// readVarint reads a MessagePack frame length prefix: n == 0 means b does
// not hold all of it yet.
func readVarint(b []byte) (v, n int, err error) {
	for i := 0; i < len(b) && i < 5; i++ {
		v |= int(b[i]&0x7F) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1, nil
		}
	}
	if len(b) >= 5 {
		return 0, 0, errBadRecord
	}
	return 0, 0, nil
}

func appendMsgpackString(dst []byte, s string) []byte {
	switch l := len(s); {
	case l < 32:
		dst = append(dst, 0xA0|byte(l))
	case l < 1<<8:
		dst = append(dst, 0xD9, byte(l))
	case l < 1<<16:
		dst = append(dst, 0xDA, byte(l>>8), byte(l))
	default:
		dst = append(dst, 0xDB, byte(l>>24), byte(l>>16), byte(l>>8), byte(l))
	}
	return append(dst, s...)
}

func appendMsgpackArrayHeader(dst []byte, n int) []byte {
	if n < 16 {
		return append(dst, 0x90|byte(n))
	}
	return append(dst, 0xDC, byte(n>>8), byte(n))
}

// recordHandler receives each hub message; r is valid only during the call.
type recordHandler interface {
	onRecord(r *record) error
}

// eachRecord calls h for every hub message in one transport message.
// A transport message holds whole hub messages only (signalr-protocol.md
// §0.4), so nothing is kept between calls.
func eachRecord(p Protocol, msg []byte, h recordHandler) error {
	var r record
	for len(msg) > 0 {
		var body []byte
		if p == JSON {
			i := bytes.IndexByte(msg, recordSeparator)
			if i < 0 {
				return errBadRecord
			}
			body, msg = msg[:i], msg[i+1:]
			if err := scanJSON(body, &r); err != nil {
				return err
			}
		} else {
			l, n, err := readVarint(msg)
			if err != nil || n == 0 || len(msg)-n < l {
				return errBadRecord
			}
			body, msg = msg[n:n+l], msg[n+l:]
			if err := scanMsgpack(body, &r); err != nil {
				return err
			}
		}
		if err := h.onRecord(&r); err != nil {
			return err
		}
	}
	return nil
}

// scanJSON pulls the fields the load generator needs out of one JSON hub
// message without decoding all of it. It relies on no key named "type",
// "arguments", "invocationId" or "error" appearing inside a value, which
// holds for every message the scenarios exchange.
func scanJSON(b []byte, r *record) error {
	*r = record{}
	v, ok := jsonValue(b, `"type"`)
	if !ok {
		return errBadRecord
	}
	t, n := leadingInt(v)
	if n == 0 {
		return errBadRecord
	}
	r.typ = int(t)
	switch r.typ {
	case typeInvocation:
		if v, ok := jsonValue(b, `"arguments"`); ok && len(v) > 0 && v[0] == '[' {
			v = skipSpace(v[1:])
			if len(v) > 0 && v[0] == '"' {
				if end := bytes.IndexByte(v[1:], '"'); end >= 0 {
					r.arg0 = v[1 : 1+end]
				}
			}
		}
	case typeCompletion:
		v, ok := jsonValue(b, `"invocationId"`)
		if !ok || len(v) == 0 || v[0] != '"' {
			return errBadRecord
		}
		end := bytes.IndexByte(v[1:], '"')
		if end < 0 {
			return errBadRecord
		}
		r.id = v[1 : 1+end]
		if e, ok := jsonValue(b, `"error"`); ok && !bytes.HasPrefix(e, []byte("null")) {
			r.failed = true
		}
	}
	return nil
}

// jsonValue returns the bytes after key and its colon.
func jsonValue(b []byte, key string) ([]byte, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return nil, false
	}
	v := skipSpace(b[i+len(key):])
	if len(v) == 0 || v[0] != ':' {
		return nil, false
	}
	return skipSpace(v[1:]), true
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// leadingInt parses the decimal digits at the start of b; n is how many.
func leadingInt(b []byte) (v int64, n int) {
	for n < len(b) && n < 19 && b[n] >= '0' && b[n] <= '9' {
		v = v*10 + int64(b[n]-'0')
		n++
	}
	return v, n
}

// scanMsgpack pulls the needed fields out of one MessagePack hub message.
func scanMsgpack(b []byte, r *record) error {
	*r = record{}
	n, b, err := mpArrayLen(b)
	if err != nil || n < 1 {
		return errBadRecord
	}
	if len(b) == 0 || b[0] > 0x7F {
		return errBadRecord
	}
	r.typ, b = int(b[0]), b[1:]
	switch r.typ {
	case typeInvocation:
		if n < 5 {
			return errBadRecord
		}
		if b, err = mpSkip(b); err != nil { // headers
			return err
		}
		if b, err = mpSkip(b); err != nil { // invocation id
			return err
		}
		if b, err = mpSkip(b); err != nil { // target
			return err
		}
		na, rest, err := mpArrayLen(b)
		if err != nil {
			return err
		}
		if na > 0 {
			if s, _, err := mpString(rest); err == nil {
				r.arg0 = s
			}
		}
	case typeCompletion:
		if n < 4 {
			return errBadRecord
		}
		if b, err = mpSkip(b); err != nil { // headers
			return err
		}
		if r.id, b, err = mpString(b); err != nil {
			return err
		}
		if len(b) == 0 {
			return errBadRecord
		}
		r.failed = b[0] == 1
	}
	return nil
}

func mpArrayLen(b []byte) (int, []byte, error) {
	if len(b) == 0 {
		return 0, nil, errBadRecord
	}
	switch c := b[0]; {
	case c&0xF0 == 0x90:
		return int(c & 0x0F), b[1:], nil
	case c == 0xDC && len(b) >= 3:
		return int(b[1])<<8 | int(b[2]), b[3:], nil
	case c == 0xDD && len(b) >= 5:
		return int(b[1])<<24 | int(b[2])<<16 | int(b[3])<<8 | int(b[4]), b[5:], nil
	}
	return 0, nil, errBadRecord
}

func mpString(b []byte) (s, rest []byte, err error) {
	if len(b) == 0 {
		return nil, nil, errBadRecord
	}
	var l, h int
	switch c := b[0]; {
	case c&0xE0 == 0xA0:
		l, h = int(c&0x1F), 1
	case c == 0xD9 && len(b) >= 2:
		l, h = int(b[1]), 2
	case c == 0xDA && len(b) >= 3:
		l, h = int(b[1])<<8|int(b[2]), 3
	case c == 0xDB && len(b) >= 5:
		l, h = int(b[1])<<24|int(b[2])<<16|int(b[3])<<8|int(b[4]), 5
	default:
		return nil, nil, errBadRecord
	}
	if l < 0 || len(b)-h < l {
		return nil, nil, errBadRecord
	}
	return b[h : h+l], b[h+l:], nil
}

// mpSkip skips one MessagePack value, checked as actorhub's own codec
// checks it.
func mpSkip(b []byte) ([]byte, error) {
	n, err := protocol.SkipMessagePack(b)
	if err != nil {
		return nil, errBadRecord
	}
	return b[n:], nil
}

// payloadArg builds an argument of exactly size bytes (at least the
// timestamp's) that starts with the send time in Unix nanoseconds and a
// colon, padded with 'x'. Every target carries it unchanged.
func payloadArg(nowNano int64, size int) string {
	b := strconv.AppendInt(make([]byte, 0, max(size, 24)), nowNano, 10)
	b = append(b, ':')
	for len(b) < size {
		b = append(b, 'x')
	}
	return string(b)
}

// stampOf reads the send time from an argument made by payloadArg.
func stampOf(arg []byte) (int64, bool) {
	v, n := leadingInt(arg)
	if n == 0 || n == len(arg) || arg[n] != ':' {
		return 0, false
	}
	return v, true
}
