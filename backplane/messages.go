package backplane

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/actorhub/actorhub/protocol"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// The messages on a hub's channels, as MessagePack arrays laid out like
// ASP.NET Core's Redis backplane. Readers ignore items they do not know, so
// a later version may append items.

// ErrMalformed: a backplane message could not be read.
var ErrMalformed = errors.New("backplane: malformed message")

// Invocation is a hub message for the connections of a channel.
//
// On the wire: [excluded, {protocol: bin}, invocationId|nil,
// returnChannel|nil, origin, skipGroups].
type Invocation struct {
	// Excluded connection ids do not get it.
	Excluded []string
	// Payloads holds the hub message encoded once per protocol, by protocol
	// name, framing included ("json": ...0x1E, "messagepack": VarInt...).
	Payloads map[string][]byte
	// InvocationID and ReturnChannel are set for a client result: the
	// client answers InvocationID, and the node that holds the connection
	// publishes the answer (a Result) on ReturnChannel.
	InvocationID  string
	ReturnChannel string
	// Origin is the node that published it.
	Origin string
	// SkipGroups: a connection in any of these groups had the message
	// through another group's channel (a send to several groups).
	SkipGroups []string
}

// GroupAction is what a GroupCommand asks.
type GroupAction byte

// The group actions, numbered as ASP.NET Core's.
const (
	GroupAdd    GroupAction = 0
	GroupRemove GroupAction = 1
)

// GroupCommand asks the node that holds a connection to add it to a group
// or remove it; that node answers with an Ack on the origin's ack channel.
//
// On the wire: [id, origin, action, group, connectionId].
type GroupCommand struct {
	ID           int64
	Origin       string
	Action       GroupAction
	Group        string
	ConnectionID string
}

// Result is a client's answer to a client result, on its way back to the
// node that asked: the client's Completion as the client's protocol
// encodes it (framing included).
//
// On the wire: [protocol, bin, disconnected, invocationId].
type Result struct {
	Protocol   string
	Completion []byte
	// Disconnected: the connection went before the client answered (or
	// did not exist); the Completion is empty.
	Disconnected bool
	// InvocationID is the invocation answered (also inside Completion).
	InvocationID string
}

// AppendInvocation appends m's encoding to dst.
func AppendInvocation(dst []byte, m *Invocation) []byte {
	w := newWriter(dst)
	w.enc.EncodeArrayLen(6)
	w.strings(m.Excluded)
	w.enc.EncodeMapLen(len(m.Payloads))
	for name, b := range m.Payloads {
		w.enc.EncodeString(name)
		w.enc.EncodeBytes(b)
	}
	w.optString(m.InvocationID)
	w.optString(m.ReturnChannel)
	w.enc.EncodeString(m.Origin)
	w.strings(m.SkipGroups)
	return w.buf.Bytes()
}

// ReadInvocation decodes an Invocation. The payloads alias data.
func ReadInvocation(data []byte) (*Invocation, error) {
	r := newReader(data)
	n := r.arrayLen()
	if n < 2 {
		return nil, r.fail("invocation", n)
	}
	m := &Invocation{Excluded: r.strings()}
	pn := r.mapLen()
	m.Payloads = make(map[string][]byte, min(pn, 8))
	for range pn {
		name := r.str()
		m.Payloads[name] = r.bin()
		if r.err != nil {
			break
		}
	}
	if n > 2 {
		m.InvocationID = r.optString()
	}
	if n > 3 {
		m.ReturnChannel = r.optString()
	}
	if n > 4 {
		m.Origin = r.optString()
	}
	if n > 5 {
		m.SkipGroups = r.strings()
	}
	r.skip(n - 6)
	return m, r.done("invocation")
}

// AppendGroupCommand appends m's encoding to dst.
func AppendGroupCommand(dst []byte, m *GroupCommand) []byte {
	w := newWriter(dst)
	w.enc.EncodeArrayLen(5)
	w.enc.EncodeInt(m.ID)
	w.enc.EncodeString(m.Origin)
	w.enc.EncodeUint8(uint8(m.Action))
	w.enc.EncodeString(m.Group)
	w.enc.EncodeString(m.ConnectionID)
	return w.buf.Bytes()
}

// ReadGroupCommand decodes a GroupCommand.
func ReadGroupCommand(data []byte) (*GroupCommand, error) {
	r := newReader(data)
	n := r.arrayLen()
	if n < 5 {
		return nil, r.fail("group command", n)
	}
	m := &GroupCommand{ID: r.int(), Origin: r.str(), Action: GroupAction(r.int()), Group: r.str(), ConnectionID: r.str()}
	r.skip(n - 5)
	if r.err == nil && m.Action != GroupAdd && m.Action != GroupRemove {
		return nil, fmt.Errorf("%w: group action %d", ErrMalformed, m.Action)
	}
	return m, r.done("group command")
}

// AppendAck appends the acknowledgement of GroupCommand id to dst.
func AppendAck(dst []byte, id int64) []byte {
	w := newWriter(dst)
	w.enc.EncodeArrayLen(1)
	w.enc.EncodeInt(id)
	return w.buf.Bytes()
}

// ReadAck decodes an acknowledgement: the id of the GroupCommand.
func ReadAck(data []byte) (int64, error) {
	r := newReader(data)
	n := r.arrayLen()
	if n < 1 {
		return 0, r.fail("ack", n)
	}
	id := r.int()
	r.skip(n - 1)
	return id, r.done("ack")
}

// AppendResult appends m's encoding to dst.
func AppendResult(dst []byte, m *Result) []byte {
	w := newWriter(dst)
	w.enc.EncodeArrayLen(4)
	w.enc.EncodeString(m.Protocol)
	w.enc.EncodeBytes(m.Completion)
	w.enc.EncodeBool(m.Disconnected)
	w.enc.EncodeString(m.InvocationID)
	return w.buf.Bytes()
}

// ReadResult decodes a Result. The completion aliases data.
func ReadResult(data []byte) (*Result, error) {
	r := newReader(data)
	n := r.arrayLen()
	if n < 2 {
		return nil, r.fail("result", n)
	}
	m := &Result{Protocol: r.str(), Completion: r.bin()}
	if n > 2 {
		m.Disconnected = r.bool()
	}
	if n > 3 {
		m.InvocationID = r.str()
	}
	r.skip(n - 4)
	return m, r.done("result")
}

type writer struct {
	buf *bytes.Buffer
	enc *msgpack.Encoder
}

func newWriter(dst []byte) writer {
	buf := bytes.NewBuffer(dst)
	return writer{buf: buf, enc: msgpack.NewEncoder(buf)}
}

// Writes to a bytes.Buffer cannot fail; the encoders' errors are ignored.

func (w writer) strings(s []string) {
	w.enc.EncodeArrayLen(len(s))
	for _, v := range s {
		w.enc.EncodeString(v)
	}
}

func (w writer) optString(s string) {
	if s == "" {
		w.enc.EncodeNil()
		return
	}
	w.enc.EncodeString(s)
}

// reader decodes items one after another; the first error sticks and every
// later read returns a zero value.
type reader struct {
	data []byte
	rd   *bytes.Reader
	dec  *msgpack.Decoder
	err  error
}

func newReader(data []byte) *reader {
	rd := bytes.NewReader(data)
	return &reader{data: data, rd: rd, dec: msgpack.NewDecoder(rd)}
}

func (r *reader) set(err error) {
	if r.err == nil && err != nil {
		r.err = err
	}
}

func (r *reader) fail(what string, n int) error {
	if r.err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, r.err)
	}
	return fmt.Errorf("%w: %s of %d items", ErrMalformed, what, n)
}

func (r *reader) done(what string) error {
	if r.err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, r.err)
	}
	return nil
}

// count reads a length and checks it could fit in what is left: a claim
// of more items than bytes is malformed (and must not size an allocation).
func (r *reader) count(n int, err error) int {
	if r.err != nil {
		return 0
	}
	if err == nil && (n < 0 || n > r.rd.Len()) {
		err = fmt.Errorf("length %d with %d bytes left", n, r.rd.Len())
	}
	if err != nil {
		r.set(err)
		return 0
	}
	return n
}

func (r *reader) arrayLen() int { return r.count(r.dec.DecodeArrayLen()) }
func (r *reader) mapLen() int   { return r.count(r.dec.DecodeMapLen()) }

func (r *reader) str() string {
	if r.err != nil {
		return ""
	}
	s, err := r.dec.DecodeString()
	r.set(err)
	return s
}

func (r *reader) optString() string {
	if r.err != nil {
		return ""
	}
	c, err := r.dec.PeekCode()
	if err == nil && c == msgpcode.Nil {
		r.set(r.dec.DecodeNil())
		return ""
	}
	return r.str()
}

// bin reads bytes as a slice of data, without a copy.
func (r *reader) bin() []byte {
	if r.err != nil {
		return nil
	}
	c, err := r.dec.PeekCode()
	if err != nil {
		r.set(err)
		return nil
	}
	if c == msgpcode.Nil {
		r.set(r.dec.DecodeNil())
		return nil
	}
	n := r.count(r.dec.DecodeBytesLen())
	if r.err != nil {
		return nil
	}
	start := len(r.data) - r.rd.Len()
	if _, err := r.rd.Seek(int64(n), 1); err != nil {
		r.set(err)
		return nil
	}
	return r.data[start : start+n : start+n]
}

func (r *reader) strings() []string {
	if r.err != nil {
		return nil
	}
	c, err := r.dec.PeekCode()
	if err == nil && c == msgpcode.Nil {
		r.set(r.dec.DecodeNil())
		return nil
	}
	n := r.arrayLen()
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for range n {
		out = append(out, r.str())
	}
	return out
}

func (r *reader) int() int64 {
	if r.err != nil {
		return 0
	}
	v, err := r.dec.DecodeInt64()
	r.set(err)
	return v
}

func (r *reader) bool() bool {
	if r.err != nil {
		return false
	}
	v, err := r.dec.DecodeBool()
	r.set(err)
	return v
}

// skip passes over n items a later version appended, with the hub
// protocol's MessagePack skip (bounded nesting, every length checked
// against what is left).
func (r *reader) skip(n int) {
	for ; n > 0 && r.err == nil; n-- {
		off := len(r.data) - r.rd.Len() // the decoder reads r.rd directly: no read-ahead
		k, err := protocol.SkipMessagePack(r.data[off:])
		if err != nil {
			r.set(err)
			return
		}
		_, err = r.rd.Seek(int64(k), io.SeekCurrent)
		r.set(err)
	}
}
