package hub_test

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/actorhub/actorhub/hub"
)

// ValidationError is an exported error type, named in detailed errors.
type ValidationError struct{ Field string }

func (e *ValidationError) Error() string { return e.Field + " is required" }

// failing has a method for each way a call can fail.
type failing struct{ typed }

func (failing) Throw() error              { return errors.New("secret detail") }
func (failing) HubErr() error             { return &hub.Error{Message: "boom"} }
func (failing) HubErrf(n int) error       { return hub.Errorf("boom %d", n) }
func (failing) Wrapped() error            { return fmt.Errorf("while working: %w", hub.Errorf("boom")) }
func (failing) Validate() (string, error) { return "", &ValidationError{Field: "name"} }
func (failing) Path() error               { return &fs.PathError{Op: "open", Path: "/x", Err: fs.ErrNotExist} }
func (failing) Panic()                    { panic("kaboom") }
func (failing) PanicErr() error           { panic(errors.New("kaboom")) }
func (failing) PanicHubErr() (int, error) { panic(hub.Errorf("from panic")) }
func (failing) Echo(s string) string      { return s }
func (failing) Typed(msg string) error {
	return &hub.TypedError{Type: "InvalidOperationException", Message: msg}
}
func (failing) TypedWrapped() error {
	return fmt.Errorf("loading: %w", &hub.TypedError{Type: "KeyNotFoundException", Message: "no key"})
}
func (failing) Named() error { return namedError{} }

// namedError names itself without being a TypedError.
type namedError struct{}

func (namedError) Error() string    { return "named" }
func (namedError) TypeName() string { return "ArgumentException" }

func (failing) Upload(ctx *hub.Context) int { return 0 }

const (
	noMethod = "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist."
	badArgs  = "Failed to invoke 'Add' due to an error on the server."
)

func TestErrorTexts(t *testing.T) {
	h := newHub(t, failing{}, hub.Config{})
	c := dial(t, h, "c1", "")
	for _, tc := range []struct {
		target string
		args   []any
		want   string
	}{
		{"Nope", nil, noMethod},
		{"Add", []any{1}, badArgs},
		{"Add", []any{1, 2, 3}, badArgs},
		{"Add", []any{"one", 2}, badArgs},
		{"Add", []any{1.5, 2}, badArgs},
		{"Add", []any{map[string]any{}, 2}, badArgs},
		{"Throw", nil, "An unexpected error occurred invoking 'Throw' on the server."},
		{"Validate", nil, "An unexpected error occurred invoking 'Validate' on the server."},
		{"Path", nil, "An unexpected error occurred invoking 'Path' on the server."},
		{"HubErr", nil, "An unexpected error occurred invoking 'HubErr' on the server. HubException: boom"},
		{"HubErrf", []any{7}, "An unexpected error occurred invoking 'HubErrf' on the server. HubException: boom 7"},
		{"Wrapped", nil, "An unexpected error occurred invoking 'Wrapped' on the server. HubException: boom"},
		{"Panic", nil, "An unexpected error occurred invoking 'Panic' on the server."},
		{"PanicErr", nil, "An unexpected error occurred invoking 'PanicErr' on the server."},
		{"PanicHubErr", nil, "An unexpected error occurred invoking 'PanicHubErr' on the server."},
		// A chosen type name shows only with detailed errors.
		{"Typed", []any{"secret"}, "An unexpected error occurred invoking 'Typed' on the server."},
	} {
		if got := c.invoke(tc.target, tc.args...); got.Error != tc.want || got.Result != "" {
			t.Errorf("%s%v:\n got %q (result %s)\nwant %q", tc.target, tc.args, got.Error, got.Result, tc.want)
		}
	}
}

func TestDetailedErrorTexts(t *testing.T) {
	h := newHub(t, failing{}, hub.Config{EnableDetailedErrors: true})
	c := dial(t, h, "c1", "")
	const bindFailed = "Failed to invoke 'Add' due to an error on the server. InvalidDataException: "
	for _, tc := range []struct {
		target string
		args   []any
		want   string
		prefix bool // want is a prefix of the text
	}{
		// Method lookup is not a bind failure: no detail is added.
		{"Nope", nil, noMethod, false},
		{"Add", []any{1}, bindFailed + "Invocation provides 1 argument(s) but target expects 2.", false},
		// ASP.NET ends this text with "invoked."; here the decoder's reason follows.
		{"Add", []any{"one", 2}, bindFailed + "Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked", true},
		{"Throw", nil, "An unexpected error occurred invoking 'Throw' on the server. Error: secret detail", false},
		{"Validate", nil, "An unexpected error occurred invoking 'Validate' on the server. ValidationError: name is required", false},
		{"Path", nil, "An unexpected error occurred invoking 'Path' on the server. PathError: open /x: file does not exist", false},
		{"HubErr", nil, "An unexpected error occurred invoking 'HubErr' on the server. HubException: boom", false},
		{"Panic", nil, "An unexpected error occurred invoking 'Panic' on the server. Error: kaboom", false},
		// ASP.NET's functional tests' ThrowException.
		{"Typed", []any{"An error occurred."}, "An unexpected error occurred invoking 'Typed' on the server. InvalidOperationException: An error occurred.", false},
		{"TypedWrapped", nil, "An unexpected error occurred invoking 'TypedWrapped' on the server. KeyNotFoundException: loading: no key", false},
		{"Named", nil, "An unexpected error occurred invoking 'Named' on the server. ArgumentException: named", false},
	} {
		got := c.invoke(tc.target, tc.args...)
		ok := got.Error == tc.want
		if tc.prefix {
			ok = strings.HasPrefix(got.Error, tc.want)
		}
		if !ok {
			t.Errorf("%s%v:\n got %q\nwant %q", tc.target, tc.args, got.Error, tc.want)
		}
	}
}

// A panicking method fails its own call only: the connection goes on, and
// its next invocation runs.
func TestPanicRecovered(t *testing.T) {
	h := newHub(t, failing{}, hub.Config{})
	c := dial(t, h, "c1", "")
	id1, panics := c.invocation("Panic")
	id2, echo := c.invocation("Echo", "after")
	c.feed(panics, echo) // one transport message: the second runs in the same turn
	if got := c.waitCompletion(id1).Error; got != "An unexpected error occurred invoking 'Panic' on the server." {
		t.Fatalf("panic: got %q", got)
	}
	if got := c.waitCompletion(id2).Result; got != `"after"` {
		t.Fatalf("after panic: got %q", got)
	}
	if got := c.invoke("Echo", "again").Result; got != `"again"` {
		t.Fatalf("later call: got %q", got)
	}
	if !c.conn.Connected() {
		t.Fatal("connection closed after a panic")
	}
}

func TestStreamingInvocationOfPlainMethod(t *testing.T) {
	h := newHub(t, failing{}, hub.Config{})
	c := dial(t, h, "c1", "")
	c.feed(`{"type":4,"invocationId":"s1","target":"Echo","arguments":["x"]}`,
		`{"type":4,"invocationId":"s2","target":"echo","arguments":["x"]}`,
		`{"type":4,"invocationId":"s3","target":"Nope","arguments":[]}`)
	for id, want := range map[string]string{
		"s1": "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation.",
		"s2": "The client attempted to invoke the non-streaming 'echo' method with a streaming invocation.",
		"s3": noMethod,
	} {
		if got := c.waitCompletion(id).Error; got != want {
			t.Errorf("%s: got %q, want %q", id, got, want)
		}
	}
}

// Upload streams sent to a method that takes none (ASP.NET: a HubException
// naming the counts).
func TestUploadStreamsToPlainMethod(t *testing.T) {
	h := newHub(t, failing{}, hub.Config{})
	c := dial(t, h, "c1", "")
	c.feed(`{"type":1,"invocationId":"1","target":"Upload","arguments":[],"streamIds":["0"]}`)
	want := "An unexpected error occurred invoking 'Upload' on the server. HubException: Client sent 1 stream(s), Hub method expects 0."
	if got := c.waitCompletion("1").Error; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// A non-blocking invocation (no id) never gets a reply, not even an error.
func TestNonBlockingInvocationNeverAnswered(t *testing.T) {
	h := newHub(t, failing{}, hub.Config{})
	c := dial(t, h, "c1", "")
	c.feed(`{"type":1,"target":"Nope","arguments":[]}`,
		`{"type":1,"target":"Throw","arguments":[]}`,
		`{"type":1,"target":"Add","arguments":["x"]}`,
		`{"type":1,"target":"Echo","arguments":["quiet"]}`)
	c.invoke("Echo", "loud")
	if got := c.received(); len(got) != 1 || got[0] != `{"type":3,"invocationId":"1","result":"loud"}` {
		t.Fatalf("received %q, want only the blocking call's completion", got)
	}
}

func TestTypedErrorValue(t *testing.T) {
	var err error = &hub.TypedError{Type: "InvalidOperationException", Message: "m"}
	var tn hub.TypeNamer
	if !errors.As(err, &tn) || tn.TypeName() != "InvalidOperationException" || err.Error() != "m" {
		t.Fatalf("TypedError gave %#v", err)
	}
}

func TestErrorValues(t *testing.T) {
	var err error = hub.Errorf("quota %d of %d", 3, 2)
	var he *hub.Error
	if !errors.As(err, &he) || he.Message != "quota 3 of 2" || err.Error() != "quota 3 of 2" {
		t.Fatalf("Errorf gave %#v", err)
	}
}
