package hub

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/actorhub/actorhub/protocol"
)

var (
	contextType = reflect.TypeFor[*Context]()
	goCtxType   = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()
)

// method is one callable hub method, bound to the hub value.
type method struct {
	name      string
	fn        reflect.Value
	ctx       int // 0: no context parameter; 1: *Context first
	params    []reflect.Type
	hasResult bool // first return value is a result
	hasError  bool // last return value is an error
	uploads   int  // how many parameters are upload streams (*Stream[T])
	stream    streamKind
}

// streamKind tells how a streaming method hands out its items.
type streamKind uint8

const (
	notStream  streamKind = iota
	streamChan            // returns <-chan T
	streamSeq             // returns iter.Seq[T]
	streamSeq2            // returns iter.Seq2[T, error]
)

// streamKindOf reports whether t is a stream result type.
func streamKindOf(t reflect.Type) streamKind {
	switch t.Kind() {
	case reflect.Chan:
		if t.ChanDir()&reflect.RecvDir != 0 {
			return streamChan
		}
	case reflect.Func:
		if t.NumIn() != 1 || t.NumOut() != 0 || t.IsVariadic() {
			return notStream
		}
		y := t.In(0)
		if y.Kind() != reflect.Func || y.NumOut() != 1 || y.Out(0).Kind() != reflect.Bool || y.IsVariadic() {
			return notStream
		}
		switch {
		case y.NumIn() == 1:
			return streamSeq
		case y.NumIn() == 2 && y.In(1) == errorType:
			return streamSeq2
		}
	}
	return notStream
}

// lifecycle methods are not callable by clients.
var reserved = map[string]bool{"onconnected": true, "ondisconnected": true}

// methodsOf finds the exported methods of impl that clients may call: all but
// the hooks (OnConnected, OnDisconnected, and Authorize when impl is an
// Authorizer). Names match case-insensitively, as in ASP.NET Core; two
// methods whose names differ only in case are an error.
func methodsOf(impl any) (map[string]*method, error) {
	v := reflect.ValueOf(impl)
	t := v.Type()
	out := make(map[string]*method)
	for i := range t.NumMethod() {
		mt := t.Method(i)
		key := strings.ToLower(mt.Name)
		if reserved[key] {
			continue
		}
		if _, ok := impl.(Authorizer); ok && key == "authorize" {
			continue // the hook, not a method
		}
		m, err := bind(mt.Name, v.Method(i))
		if err != nil {
			return nil, err
		}
		if prev, ok := out[key]; ok {
			return nil, fmt.Errorf("hub: methods %s and %s differ only in case", prev.name, mt.Name)
		}
		out[key] = m
	}
	return out, nil
}

func bind(name string, fn reflect.Value) (*method, error) {
	ft := fn.Type()
	m := &method{name: name, fn: fn}
	if ft.IsVariadic() {
		return nil, fmt.Errorf("hub: method %s is variadic", name)
	}
	for i := range ft.NumIn() {
		p := ft.In(i)
		if i == 0 && p == contextType {
			m.ctx = 1
			continue
		}
		if p == contextType || p == goCtxType {
			return nil, fmt.Errorf("hub: method %s: a context must be its first parameter, as *hub.Context", name)
		}
		if p.Implements(uploadType) {
			m.uploads++
			m.params = append(m.params, p)
			continue
		}
		switch p.Kind() {
		case reflect.Chan, reflect.Func, reflect.UnsafePointer:
			return nil, fmt.Errorf("hub: method %s: parameter %d of type %s cannot come from a client (an upload stream is a *hub.Stream[T])", name, i, p)
		}
		m.params = append(m.params, p)
	}
	switch n := ft.NumOut(); {
	case n == 0:
	case n == 1 && ft.Out(0) == errorType:
		m.hasError = true
	case n == 1:
		m.hasResult = true
		m.stream = streamKindOf(ft.Out(0))
	case n == 2 && ft.Out(1) == errorType:
		m.hasResult, m.hasError = true, true
		m.stream = streamKindOf(ft.Out(0))
	default:
		return nil, fmt.Errorf("hub: method %s must return nothing, a result, an error, or a result and an error", name)
	}
	return m, nil
}

// bindArgs decodes the invocation's arguments into the method's parameters
// and hands its upload streams, in order, to the *Stream parameters. A
// count of streams that does not match gives a *Error.
func (m *method) bindArgs(proto protocol.Protocol, hc *Context, raw []any, streamIDs []string, inTurn bool) ([]reflect.Value, error) {
	if want := len(m.params) - m.uploads; len(raw) != want {
		return nil, fmt.Errorf("Invocation provides %d argument(s) but target expects %d.", len(raw), want)
	}
	args := make([]reflect.Value, m.ctx+len(m.params))
	if m.ctx == 1 {
		args[0] = reflect.ValueOf(hc)
	}
	next := 0
	for i, p := range m.params {
		if p.Implements(uploadType) {
			continue
		}
		v := reflect.New(p)
		if err := proto.Bind(raw[next], v.Interface()); err != nil {
			return nil, bindError{err}
		}
		next++
		args[m.ctx+i] = v.Elem()
	}
	if len(streamIDs) != m.uploads {
		return nil, &Error{Message: fmt.Sprintf("Client sent %d stream(s), Hub method expects %d.", len(streamIDs), m.uploads)}
	}
	k := 0
	for i, p := range m.params {
		if !p.Implements(uploadType) {
			continue
		}
		v := reflect.New(p.Elem())
		v.Interface().(upload).attach(hc, hc.conn.Upload(streamIDs[k]), proto, inTurn)
		k++
		args[m.ctx+i] = v
	}
	return args, nil
}

// bindError is an argument that did not decode. Its text is ASP.NET's; the
// decoder's detail stays in the wrapped error, for logs.
type bindError struct{ err error }

func (e bindError) Error() string {
	return "Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked."
}

func (e bindError) Unwrap() error { return e.err }

// callStream runs a streaming method and returns its stream, turning a
// panic into an error.
func (m *method) callStream(args []reflect.Value) (src reflect.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError{r}
		}
	}()
	out := m.fn.Call(args)
	if m.hasError {
		if e := out[len(out)-1]; !e.IsNil() {
			return reflect.Value{}, e.Interface().(error)
		}
	}
	return out[0], nil
}

// call runs the method, turning a panic into an error.
func (m *method) call(args []reflect.Value) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			result, err = nil, panicError{r}
		}
	}()
	out := m.fn.Call(args)
	if m.hasError {
		if e := out[len(out)-1]; !e.IsNil() {
			return nil, e.Interface().(error)
		}
	}
	if m.hasResult {
		return out[0].Interface(), nil
	}
	return nil, nil
}
