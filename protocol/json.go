package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// JSON is the SignalR JSON hub protocol: one UTF-8 JSON object per message,
// each ended by RecordSeparator. It speaks versions 1 and 2 and needs a Text
// transfer format.
//
// ReadMessage decodes arguments, stream items and results as json.RawMessage
// values that alias data; Bind unmarshals one into a Go value. After an
// ErrInvalid or ErrUnknownType error, rest is the data after the bad record.
var JSON Protocol = jsonProtocol{}

var _ Protocol = jsonProtocol{}

type jsonProtocol struct{}

func (jsonProtocol) Name() string                   { return "json" }
func (jsonProtocol) Version() int                   { return 2 }
func (jsonProtocol) TransferFormat() TransferFormat { return Text }

// nextRecord splits the first record (without its separator) off data. It
// looks at no more than maxSize+1 bytes when maxSize > 0.
func nextRecord(data []byte, maxSize int) (rec, rest []byte, err error) {
	search := data
	if maxSize > 0 && len(data) > maxSize {
		search = data[:maxSize+1]
	}
	i := bytes.IndexByte(search, RecordSeparator)
	if i < 0 {
		if maxSize > 0 && len(data) > maxSize {
			return nil, nil, ErrTooLarge
		}
		return nil, nil, ErrIncomplete
	}
	return data[:i:i], data[i+1:], nil
}

func (jsonProtocol) ReadMessage(data []byte, maxSize int) (Message, []byte, error) {
	rec, rest, err := nextRecord(data, maxSize)
	if err != nil {
		return nil, nil, err
	}
	var e envelope
	if err := e.scan(rec); err != nil {
		return nil, rest, err
	}
	m, err := e.message()
	if err != nil {
		return nil, rest, err
	}
	return m, rest, nil
}

// envelope is what one pass over a hub message record finds. Properties are
// order-free, so the message is built only once the whole object is read.
// Every known property is type-checked whatever the message type, as ASP.NET
// does; the last of duplicate properties wins.
type envelope struct {
	s scanner

	typ     int64
	hasType bool

	invocationID, target, errorText          strSpan
	hasInvocationID, hasTarget, hasErrorText bool

	args     span // the whole array
	nArgs    int
	hasArgs  bool
	argSpans [4]span // the first elements, saving readArgs a second pass

	item, result       span
	hasItem, hasResult bool

	headers    span // the whole object
	nHeaders   int
	hasHeaders bool

	streamIDs    span // the whole array
	nStreamIDs   int
	hasStreamIDs bool

	allowReconnect bool

	sequenceID    int64
	hasSequenceID bool
}

// scan validates rec as one JSON object and records the known properties.
func (e *envelope) scan(rec []byte) error {
	s := &e.s
	s.buf = rec
	if err := s.openObject(1, ""); err != nil {
		return err
	}
	var tmp [32]byte
	for first := true; ; first = false {
		key, done, err := s.nextMember(first)
		if err != nil {
			return err
		}
		if done {
			break
		}
		switch string(s.name(key, &tmp)) {
		case "type":
			e.typ, err = s.readInt("type")
			e.hasType = err == nil
		case "invocationId":
			e.invocationID, e.hasInvocationID, err = s.readNullableString("invocationId")
		case "target":
			e.target, e.hasTarget, err = s.readNullableString("target")
		case "error":
			e.errorText, e.hasErrorText, err = s.readNullableString("error")
		case "arguments":
			e.args, e.nArgs, err = e.scanArray("arguments", false, e.argSpans[:])
			e.hasArgs = err == nil
		case "streamIds":
			e.streamIDs, e.nStreamIDs, err = e.scanArray("streamIds", true, nil)
			e.hasStreamIDs = err == nil
		case "item":
			e.item, err = s.skipValue(1)
			e.hasItem = err == nil
		case "result":
			e.result, err = s.skipValue(1)
			e.hasResult = err == nil
		case "headers":
			e.headers, e.nHeaders, err = e.scanHeaders()
			e.hasHeaders = err == nil
		case "allowReconnect":
			e.allowReconnect, err = s.readBool("allowReconnect")
		case "sequenceId":
			e.sequenceID, err = s.readInt("sequenceId")
			e.hasSequenceID = err == nil
		default:
			_, err = s.skipValue(1)
		}
		if err != nil {
			return err
		}
	}
	return s.end()
}

// scanArray validates an array property (of strings only if strings is set),
// counts its elements and notes the spans of the first len(elems).
func (e *envelope) scanArray(prop string, strings bool, elems []span) (sp span, n int, err error) {
	s := &e.s
	if err := s.openArray(2, prop); err != nil {
		return sp, 0, err
	}
	sp.start = s.pos - 1
	for first := true; ; first = false {
		done, err := s.nextElement(first)
		if err != nil {
			return sp, 0, err
		}
		if done {
			break
		}
		var el span
		if strings {
			if s.peek() != '"' {
				return sp, 0, invalidf("expected '%s' to hold only strings", prop)
			}
			_, err = s.readString()
		} else {
			el, err = s.skipValue(2)
		}
		if err != nil {
			return sp, 0, err
		}
		if n < len(elems) {
			elems[n] = el
		}
		n++
	}
	sp.end = s.pos
	return sp, n, nil
}

// scanHeaders validates the headers object (string values only) and counts
// its members.
func (e *envelope) scanHeaders() (sp span, n int, err error) {
	s := &e.s
	if err := s.openObject(2, "headers"); err != nil {
		return sp, 0, err
	}
	sp.start = s.pos - 1
	for first := true; ; first = false {
		_, done, err := s.nextMember(first)
		if err != nil {
			return sp, 0, err
		}
		if done {
			break
		}
		if s.peek() != '"' {
			return sp, 0, invalidf("expected header values to be strings")
		}
		if _, err := s.readString(); err != nil {
			return sp, 0, err
		}
		n++
	}
	sp.end = s.pos
	return sp, n, nil
}

func missing(prop string) error {
	return invalidf("missing required property '%s'", prop)
}

// message builds the message the envelope describes, applying the field
// rules of its type.
func (e *envelope) message() (Message, error) {
	if !e.hasType {
		return nil, missing("type")
	}
	if e.typ < int64(TypeInvocation) || e.typ > int64(TypeSequence) {
		// Newer peers may add types; the caller may skip this one.
		return nil, fmt.Errorf("%w: %d", ErrUnknownType, e.typ)
	}
	switch MessageType(e.typ) {
	case TypeInvocation, TypeStreamInvocation:
		return e.invocation(MessageType(e.typ))
	case TypeStreamItem:
		id, err := e.requiredID()
		if err != nil {
			return nil, err
		}
		if !e.hasItem {
			return nil, missing("item")
		}
		h, err := e.readHeaders()
		if err != nil {
			return nil, err
		}
		return &StreamItem{Headers: h, InvocationID: id, Item: e.raw(e.item)}, nil
	case TypeCompletion:
		return e.completion()
	case TypeCancelInvocation:
		id, err := e.requiredID()
		if err != nil {
			return nil, err
		}
		h, err := e.readHeaders()
		if err != nil {
			return nil, err
		}
		return &CancelInvocation{Headers: h, InvocationID: id}, nil
	case TypePing:
		return &Ping{}, nil
	case TypeClose:
		m := &Close{AllowReconnect: e.allowReconnect}
		if e.hasErrorText {
			var err error
			if m.Error, err = e.s.text(e.errorText); err != nil {
				return nil, err
			}
		}
		return m, nil
	case TypeAck:
		if !e.hasSequenceID {
			return nil, missing("sequenceId")
		}
		return &Ack{SequenceID: e.sequenceID}, nil
	case TypeSequence:
		if !e.hasSequenceID {
			return nil, missing("sequenceId")
		}
		return &Sequence{SequenceID: e.sequenceID}, nil
	}
	return nil, fmt.Errorf("%w: %d", ErrUnknownType, e.typ)
}

func (e *envelope) invocation(t MessageType) (Message, error) {
	id, target, err := e.s.text2(e.invocationID, e.hasInvocationID, e.target, e.hasTarget)
	if err != nil {
		return nil, err
	}
	if t == TypeStreamInvocation && id == "" {
		return nil, missing("invocationId")
	}
	if target == "" {
		return nil, missing("target")
	}
	if !e.hasArgs {
		return nil, missing("arguments")
	}
	h, err := e.readHeaders()
	if err != nil {
		return nil, err
	}
	ids, err := e.readStreamIDs()
	if err != nil {
		return nil, err
	}
	if t == TypeStreamInvocation {
		m, args := newWithArgs[StreamInvocation](e.nArgs)
		e.readArgs(args)
		*m = StreamInvocation{Headers: h, InvocationID: id, Target: target, Arguments: args, StreamIDs: ids}
		return m, nil
	}
	m, args := newWithArgs[Invocation](e.nArgs)
	e.readArgs(args)
	*m = Invocation{Headers: h, InvocationID: id, Target: target, Arguments: args, StreamIDs: ids}
	return m, nil
}

// withArgs puts a message and a few arguments in one allocation.
type withArgs[M any] struct {
	m    M
	args [4]any
}

// newWithArgs returns a new message and an argument slice of length n.
func newWithArgs[M any](n int) (*M, []any) {
	if n > 0 && n <= len(withArgs[M]{}.args) {
		w := new(withArgs[M])
		return &w.m, w.args[:n:n]
	}
	return new(M), make([]any, n)
}

func (e *envelope) completion() (Message, error) {
	id, errText, err := e.s.text2(e.invocationID, e.hasInvocationID, e.errorText, e.hasErrorText)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, missing("invocationId")
	}
	if e.hasErrorText && e.hasResult {
		return nil, invalidf("the 'error' and 'result' properties are mutually exclusive")
	}
	h, err := e.readHeaders()
	if err != nil {
		return nil, err
	}
	m := &Completion{Headers: h, InvocationID: id, Error: errText, HasResult: e.hasResult}
	if e.hasResult {
		m.Result = e.raw(e.result)
	}
	return m, nil
}

// requiredID decodes invocationId, which must be a non-empty string.
func (e *envelope) requiredID() (string, error) {
	if !e.hasInvocationID {
		return "", missing("invocationId")
	}
	id, err := e.s.text(e.invocationID)
	if err == nil && id == "" {
		err = missing("invocationId")
	}
	return id, err
}

// raw returns the value at sp as a json.RawMessage aliasing the record, its
// capacity capped so that appending to it cannot overwrite the record.
func (e *envelope) raw(sp span) json.RawMessage {
	return json.RawMessage(e.s.buf[sp.start:sp.end:sp.end])
}

// readArgs splits the validated arguments array into args, which has room
// for every element.
func (e *envelope) readArgs(args []any) {
	if len(args) <= len(e.argSpans) {
		for i := range args {
			args[i] = e.raw(e.argSpans[i])
		}
		return
	}
	s := scanner{buf: e.s.buf, pos: e.args.start + 1}
	for i := range args {
		if i > 0 {
			s.pos++ // the comma after the previous element
		}
		sp, _ := s.skipValue(2)
		args[i] = e.raw(sp)
		s.skipSpace()
	}
}

// readStreamIDs decodes the validated streamIds array; empty gives nil.
func (e *envelope) readStreamIDs() ([]string, error) {
	if !e.hasStreamIDs || e.nStreamIDs == 0 {
		return nil, nil
	}
	ids := make([]string, e.nStreamIDs)
	s := scanner{buf: e.s.buf, pos: e.streamIDs.start + 1}
	for i := range ids {
		if i > 0 {
			s.pos++
		}
		s.skipSpace()
		sp, _ := s.readString()
		var err error
		if ids[i], err = s.text(sp); err != nil {
			return nil, err
		}
		s.skipSpace()
	}
	return ids, nil
}

// readHeaders decodes the validated headers object; empty gives nil.
func (e *envelope) readHeaders() (map[string]string, error) {
	if !e.hasHeaders || e.nHeaders == 0 {
		return nil, nil
	}
	h := make(map[string]string, e.nHeaders)
	s := scanner{buf: e.s.buf, pos: e.headers.start + 1}
	for first := true; ; first = false {
		ksp, done, _ := s.nextMember(first)
		if done {
			return h, nil
		}
		s.skipSpace()
		vsp, _ := s.readString()
		k, err := s.text(ksp)
		if err != nil {
			return nil, err
		}
		v, err := s.text(vsp)
		if err != nil {
			return nil, err
		}
		h[k] = v
	}
}

// Bind unmarshals value into v. A json.RawMessage or []byte value is JSON
// text; any other Go value (from a call made inside the server) goes through
// json.Marshal first.
func (jsonProtocol) Bind(value any, v any) error {
	var raw []byte
	switch x := value.(type) {
	case json.RawMessage:
		raw = x
	default: // a Go value from the server side ([]byte too: it encodes as base64)
		b, err := json.Marshal(value)
		if err != nil {
			return fmt.Errorf("protocol: bind json: %w", err)
		}
		raw = b
	}
	if len(raw) == 0 {
		raw = []byte("null")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("protocol: bind json: %w", err)
	}
	return nil
}
