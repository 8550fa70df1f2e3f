package hub_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/actorhub/actorhub/hub"
)

// Hubs that New must refuse.
type (
	variadicHub    struct{}
	chanParamHub   struct{}
	funcParamHub   struct{}
	unsafeParamHub struct{}
	twoResultsHub  struct{}
	errorFirstHub  struct{}
	threeResultHub struct{}
	caseClashHub   struct{}
	lateCtxHub     struct{}
	goCtxHub       struct{}
)

func (variadicHub) Sum(xs ...int) int                        { return len(xs) }
func (chanParamHub) Feed(c chan int)                         {}
func (funcParamHub) Call(f func())                           {}
func (unsafeParamHub) Peek(p unsafe.Pointer)                 {}
func (twoResultsHub) Pair() (int, int)                       { return 1, 2 }
func (errorFirstHub) Swap() (error, int)                     { return nil, 0 }
func (threeResultHub) Three() (int, string, error)           { return 0, "", nil }
func (caseClashHub) Send(string)                             {}
func (caseClashHub) SEND(string)                             {}
func (lateCtxHub) Late(s string, ctx *hub.Context)           {}
func (goCtxHub) WithGoContext(ctx context.Context, s string) {}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		impl any
		want string // part of the error text
	}{
		{nil, "needs a hub value"},
		{variadicHub{}, "Sum is variadic"},
		{chanParamHub{}, "Feed: parameter 0 of type chan int"},
		{funcParamHub{}, "Call: parameter 0 of type func()"},
		{unsafeParamHub{}, "Peek: parameter 0 of type unsafe.Pointer"},
		{twoResultsHub{}, "Pair must return"},
		{errorFirstHub{}, "Swap must return"},
		{threeResultHub{}, "Three must return"},
		{caseClashHub{}, "differ only in case"},
		{lateCtxHub{}, "Late: a context must be its first parameter"},
		{goCtxHub{}, "WithGoContext: a context must be its first parameter"},
	} {
		t.Run(fmt.Sprintf("%T", tc.impl), func(t *testing.T) {
			h, err := hub.New(tc.impl, hub.Config{})
			if err == nil {
				_ = h.Shutdown(context.Background())
				t.Fatal("New accepted it")
			}
			if !strings.HasPrefix(err.Error(), "hub: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want one with %q", err, tc.want)
			}
		})
	}
}

// A value with no methods is a valid, if useless, hub.
func TestNewEmptyHub(t *testing.T) {
	h := newHub(t, struct{}{}, hub.Config{})
	c := dial(t, h, "c1", "")
	if got := c.invoke("Anything").Error; got != "Failed to invoke 'Anything' due to an error on the server. HubException: Method does not exist." {
		t.Fatalf("got %q", got)
	}
}

type point struct {
	X     int    `json:"x"`
	Label string `json:"label,omitempty"`
}

// typed has one method per kind of parameter and result.
type typed struct{}

func (typed) Str(s string) string                       { return s + "!" }
func (typed) Int(n int) int                             { return n * 2 }
func (typed) Float(f float64) float64                   { return f / 2 }
func (typed) Struct(p point) point                      { p.X++; return p }
func (typed) Slice(s []string) string                   { return strings.Join(s, "+") }
func (typed) Map(m map[string]int) int                  { return m["a"] + m["b"] }
func (typed) Ptr(p *point) string                       { return fmt.Sprint(p) }
func (typed) Any(v any) string                          { return fmt.Sprintf("%T", v) }
func (typed) Bool(b bool) bool                          { return !b }
func (typed) Mixed(a int, s string, f []float64) string { return fmt.Sprintf("%d %s %v", a, s, f) }

func (typed) Void()                    {}
func (typed) VoidCtx(ctx *hub.Context) {}
func (typed) Result() []int            { return []int{1, 2} }
func (typed) NilResult() *point        { return nil }
func (typed) Err(fail bool) error      { return failIf(fail) }
func (typed) ResultErr(fail bool) (map[string]int, error) {
	return map[string]int{"z": 1, "a": 2}, failIf(fail)
}
func (typed) WhoAmI(ctx *hub.Context) string { return ctx.ConnectionID + "/" + ctx.UserID }
func (typed) Add(a, b int) int               { return a + b }

func failIf(fail bool) error {
	if fail {
		return errors.New("failed on purpose")
	}
	return nil
}

func TestParameterTypes(t *testing.T) {
	h := newHub(t, typed{}, hub.Config{})
	c := dial(t, h, "c1", "ann")
	for _, tc := range []struct {
		target string
		args   []any
		want   string // the result's JSON
	}{
		{"Str", []any{"hi"}, `"hi!"`},
		{"Int", []any{21}, `42`},
		{"Float", []any{1.5}, `0.75`},
		{"Struct", []any{map[string]any{"x": 1, "label": "p"}}, `{"x":2,"label":"p"}`},
		{"Struct", []any{map[string]any{"x": 1}}, `{"x":2}`},
		{"Slice", []any{[]string{"a", "b", "c"}}, `"a+b+c"`},
		{"Map", []any{map[string]int{"a": 1, "b": 2}}, `3`},
		{"Ptr", []any{map[string]any{"x": 7}}, `"&{7 }"`},
		{"Ptr", []any{nil}, `"<nil>"`},
		{"Any", []any{1}, `"float64"`},
		{"Any", []any{"s"}, `"string"`},
		{"Any", []any{map[string]any{"k": 1}}, `"map[string]interface {}"`},
		{"Any", []any{[]any{1}}, `"[]interface {}"`},
		{"Any", []any{nil}, `"<nil>"`},
		{"Bool", []any{false}, `true`},
		{"Mixed", []any{1, "two", []float64{3, 4.5}}, `"1 two [3 4.5]"`},
	} {
		got := c.invoke(tc.target, tc.args...)
		if got.Error != "" || got.Result != tc.want {
			// Strings are compared as JSON text; decode for a readable message.
			t.Errorf("%s%v: got result %s error %q, want %s", tc.target, tc.args, got.Result, got.Error, tc.want)
		}
	}
}

func TestResultShapes(t *testing.T) {
	h := newHub(t, typed{}, hub.Config{})
	c := dial(t, h, "c1", "ann")
	for _, tc := range []struct {
		target string
		args   []any
		want   string // the whole Completion, less its invocation id
	}{
		{"Void", nil, `"result":null`},
		{"VoidCtx", nil, `"result":null`},
		{"Result", nil, `"result":[1,2]`},
		{"NilResult", nil, `"result":null`},
		{"Err", []any{false}, `"result":null`},
		{"Err", []any{true}, `"error":"An unexpected error occurred invoking 'Err' on the server."`},
		{"ResultErr", []any{false}, `"result":{"a":2,"z":1}`},
		{"ResultErr", []any{true}, `"error":"An unexpected error occurred invoking 'ResultErr' on the server."`},
		{"WhoAmI", nil, `"result":"c1/ann"`},
	} {
		id, msg := c.invocation(tc.target, tc.args...)
		c.feed(msg)
		got := c.waitCompletion(id).Raw
		want := fmt.Sprintf(`{"type":3,"invocationId":%q,%s}`, id, tc.want)
		if got != want {
			t.Errorf("%s%v:\n got %s\nwant %s", tc.target, tc.args, got, want)
		}
	}
}

func TestMethodNamesCaseInsensitive(t *testing.T) {
	h := newHub(t, typed{}, hub.Config{})
	c := dial(t, h, "c1", "")
	for _, name := range []string{"Str", "str", "STR", "sTr"} {
		if got := c.invoke(name, "x"); got.Result != `"x!"` {
			t.Errorf("%s: got %+v", name, got)
		}
	}
	// Error texts name the method as the client spelled it.
	if got := c.invoke("ADD", 1); got.Error != "Failed to invoke 'ADD' due to an error on the server." {
		t.Errorf("got %q", got.Error)
	}
}

// lifecycleOnly implements Connector and Disconnector.
type lifecycleOnly struct{ typed }

func (lifecycleOnly) OnConnected(ctx *hub.Context) error         { return nil }
func (lifecycleOnly) OnDisconnected(ctx *hub.Context, err error) {}

func TestLifecycleMethodsNotCallable(t *testing.T) {
	h := newHub(t, lifecycleOnly{}, hub.Config{})
	c := dial(t, h, "c1", "")
	for _, name := range []string{"OnConnected", "onconnected", "OnDisconnected", "ONDISCONNECTED"} {
		want := "Failed to invoke '" + name + "' due to an error on the server. HubException: Method does not exist."
		if got := c.invoke(name); got.Error != want {
			t.Errorf("%s: got %q, want %q", name, got.Error, want)
		}
	}
	if got := c.invoke("Str", "ok"); got.Result != `"ok!"` {
		t.Errorf("embedded method: got %+v", got)
	}
}

// OnConnected and OnDisconnected with other signatures are not lifecycle
// hooks, and still not callable.
type oddLifecycle struct{}

func (oddLifecycle) OnConnected() string { return "no" }

func TestReservedNamesNeverCallable(t *testing.T) {
	h := newHub(t, oddLifecycle{}, hub.Config{})
	c := dial(t, h, "c1", "")
	if got := c.invoke("OnConnected"); !strings.HasSuffix(got.Error, "HubException: Method does not exist.") {
		t.Fatalf("got %+v", got)
	}
}
