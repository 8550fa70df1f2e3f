package hub

import (
	"errors"
	"fmt"
	"reflect"
	"unicode"
)

// Error is an error whose message reaches the client, as a HubException does
// in ASP.NET Core: a hub method that returns one fails with
// "An unexpected error occurred invoking 'M' on the server. HubException: <Message>".
// Other errors reach the client only as the generic text unless
// Config.EnableDetailedErrors is set.
type Error struct {
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(format string, args ...any) error {
	return &Error{Message: fmt.Sprintf(format, args...)}
}

// TypedError is an error that names its own type in detailed errors, as a
// .NET exception's type name appears in ASP.NET Core's texts. With
// Config.EnableDetailedErrors, a method that returns
// &TypedError{Type: "InvalidOperationException", Message: "m"} fails with
// "An unexpected error occurred invoking 'M' on the server.
// InvalidOperationException: m". Without detailed errors the client gets the
// generic text, as for any error that is not an *Error.
//
// Any error type may name itself the same way with a TypeName method; see
// TypeNamer.
type TypedError struct {
	// Type is the name clients see, as "InvalidOperationException".
	Type string
	// Message is the error's text.
	Message string
}

func (e *TypedError) Error() string { return e.Message }

// TypeName returns e.Type.
func (e *TypedError) TypeName() string { return e.Type }

// TypeNamer is implemented by errors that choose the type name detailed
// errors show for them (see TypedError). Found with errors.As, so it may be
// wrapped: the name is the first one in the chain, the text the whole
// error's.
type TypeNamer interface {
	error
	TypeName() string
}

// ErrUnauthorized is an error for Authorizer.Authorize to refuse a call
// with.
var ErrUnauthorized = errors.New("hub: user is unauthorized")

// ErrClosed is what Shutdown returns when the hub is already shut down.
var ErrClosed = errors.New("hub: hub is shut down")

// errorMessage builds the client-visible text the way ASP.NET Core's
// ErrorMessageHelper does: the detail is appended for hub errors, and for any
// error when detailed errors are on. A client's own error (an upload stream
// it failed) counts as a hub error: ASP.NET completes the stream's reader
// with a HubException of the client's text.
func errorMessage(prefix string, err error, detailed bool) string {
	var he *Error
	if errors.As(err, &he) {
		return prefix + " HubException: " + he.Message
	}
	var ce *ClientError
	if errors.As(err, &ce) {
		return prefix + " HubException: " + ce.Message
	}
	if detailed && err != nil {
		return prefix + " " + typeName(err) + ": " + err.Error()
	}
	return prefix
}

// typeName names an error's type for detailed errors: the name a TypeNamer
// in its chain chooses, else PathError for *fs.PathError, and "Error" for
// the standard library's unexported types.
func typeName(err error) string {
	var tn TypeNamer
	if errors.As(err, &tn) && tn.TypeName() != "" {
		return tn.TypeName()
	}
	t := reflect.TypeOf(err)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	name := t.Name()
	if name == "" || !unicode.IsUpper([]rune(name)[0]) {
		return "Error"
	}
	return name
}

// panicError turns a recovered panic into an error.
type panicError struct{ value any }

func (p panicError) Error() string { return fmt.Sprint(p.value) }

// Texts of ASP.NET Core SignalR that clients and tests rely on.
func unexpectedText(target string) string {
	return "An unexpected error occurred invoking '" + target + "' on the server."
}

func bindFailedText(target string) string {
	return "Failed to invoke '" + target + "' due to an error on the server."
}

func unauthorizedText(target string) string {
	return "Failed to invoke '" + target + "' because user is unauthorized"
}
