package hub

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/actorhub/actorhub/hub/protocol"
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
		switch p.Kind() {
		case reflect.Chan, reflect.Func, reflect.UnsafePointer:
			return nil, fmt.Errorf("hub: method %s: parameter %d of type %s cannot come from a client", name, i, p)
		}
		m.params = append(m.params, p)
	}
	switch n := ft.NumOut(); {
	case n == 0:
	case n == 1 && ft.Out(0) == errorType:
		m.hasError = true
	case n == 1:
		m.hasResult = true
	case n == 2 && ft.Out(1) == errorType:
		m.hasResult, m.hasError = true, true
	default:
		return nil, fmt.Errorf("hub: method %s must return nothing, a result, an error, or a result and an error", name)
	}
	return m, nil
}

// bindArgs decodes the invocation's arguments into the method's parameters.
func (m *method) bindArgs(proto protocol.Protocol, hc *Context, raw []any) ([]reflect.Value, error) {
	if len(raw) != len(m.params) {
		return nil, fmt.Errorf("Invocation provides %d argument(s) but target expects %d.", len(raw), len(m.params))
	}
	args := make([]reflect.Value, m.ctx+len(m.params))
	if m.ctx == 1 {
		args[0] = reflect.ValueOf(hc)
	}
	for i, p := range m.params {
		v := reflect.New(p)
		if err := proto.Bind(raw[i], v.Interface()); err != nil {
			return nil, bindError{err}
		}
		args[m.ctx+i] = v.Elem()
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
