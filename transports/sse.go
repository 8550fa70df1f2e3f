package transports

import (
	"bytes"
	"errors"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/actorhub/actorhub/hub"
)

// sendTimeout bounds one write to an HTTP transport's client, as ASP.NET's
// TransportSendTimeout: a client that does not read for that long is cut.
const sendTimeout = 10 * time.Second

// Errors the HTTP transports report to Conn.Closed (and so to OnDisconnected).
var (
	errDropped       = errors.New("transports: connection dropped by the server")
	errInactive      = errors.New("transports: no poll within the disconnect timeout")
	errHandlerClosed = errors.New("transports: handler closed")
	errTransportDone = errors.New("transports: transport closed")
)

// isEventStream reports whether the request asks for Server-Sent Events.
func isEventStream(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/event-stream" {
				return true
			}
		}
	}
	return false
}

// serveSSE answers GET <hub>?id=T with Accept: text/event-stream: the
// receive half of Server-Sent Events. The request's goroutine writes the
// connection's messages as events until the connection or the client ends.
func (h *Handler) serveSSE(w http.ResponseWriter, r *http.Request) {
	user, claims, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	token, ok := requestToken(w, r)
	if !ok {
		return
	}
	hc := &httpConn{}
	e, _, status := h.conns.claim(token, ServerSentEvents, user, hc)
	if status != 0 {
		claimError(w, status)
		return
	}
	t := &sseTransport{wake: make(chan struct{}, 1), rc: http.NewResponseController(w), active: true}
	c, err := h.srv.Connect(hub.ConnInfo{ID: e.id, UserID: user, Claims: claims, TextOnly: true, Transport: sseName, Request: h.keep(r)}, t)
	if err != nil { // shutting down
		h.conns.remove(token)
		plainText(w, http.StatusServiceUnavailable, "")
		return
	}
	hc.setConnection(c)
	err = t.run(h, w, r)
	if errors.Is(err, errDropped) {
		h.conns.remove(token)
		c.Closed(err)
		panic(http.ErrAbortHandler) // cut the TCP connection: the client sees an error
	}
	h.conns.finish(token, hc, h.now(), false) // the client's Close may still come (ended.go)
	c.Closed(err)
}

// How a transport was asked to close (sseTransport.closing).
const (
	closeGraceful int32 = 1
	closeDrop     int32 = 2
)

// sseTransport queues a connection's frames for the request goroutine,
// which writes them as events.
type sseTransport struct {
	wake chan struct{} // capacity 1: something to write, or closing
	rc   *http.ResponseController

	mu      sync.Mutex
	queue   [][]byte // guarded by mu: frames not yet taken by the writer
	queued  int      // guarded by mu: bytes queued or being written
	closing int32    // guarded by mu: 0, closeGraceful or closeDrop
	active  bool     // guarded by mu: the request runs, rc may be used
}

var _ hub.Transport = (*sseTransport)(nil)

func (t *sseTransport) Framed() bool { return false }

func (t *sseTransport) Write(bufs [][]byte) error {
	t.mu.Lock()
	if t.closing != 0 || !t.active {
		t.mu.Unlock()
		return errTransportDone
	}
	for _, b := range bufs {
		t.queue = append(t.queue, b)
		t.queued += len(b)
	}
	t.mu.Unlock()
	t.signal()
	return nil
}

func (t *sseTransport) Buffered() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.queued
}

func (t *sseTransport) Close(graceful bool) {
	t.mu.Lock()
	if t.closing == 0 {
		t.closing = closeGraceful
	}
	if !graceful {
		t.closing = closeDrop
		if t.active { // a write blocked on a client that does not read ends now
			_ = t.rc.SetWriteDeadline(time.Now())
		}
	}
	t.mu.Unlock()
	t.signal()
}

func (t *sseTransport) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// run writes the response until the connection ends (nil: the response is
// complete), the client goes or a write fails.
func (t *sseTransport) run(h *Handler, w http.ResponseWriter, r *http.Request) (err error) {
	defer func() {
		t.mu.Lock()
		t.active = false
		t.queue, t.queued = nil, 0
		t.mu.Unlock()
		// The end of the response (its last chunk) is written after this.
		_ = t.rc.SetWriteDeadline(time.Now().Add(sendTimeout))
	}()
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache,no-store")
	hd.Set("Pragma", "no-cache")
	// Keeps compressing middleware off: every event must reach the client now.
	hd.Set("Content-Encoding", "identity")
	w.WriteHeader(http.StatusOK)
	if err := t.flush(w, []byte(":\r\n")); err != nil {
		return err
	}
	var event []byte
	for {
		select {
		case <-t.wake:
		case <-r.Context().Done():
			// Dropping the request is how an SSE client leaves (the JS
			// client's stop sends a hub Close without waiting for it, then
			// closes the EventSource), so, as in ASP.NET, a clean end.
			return nil
		case <-h.stop:
			return errHandlerClosed
		}
		t.mu.Lock()
		batch, closing := t.queue, t.closing
		t.queue = nil
		t.mu.Unlock()
		if closing == closeDrop {
			return errDropped
		}
		if len(batch) > 0 {
			event = appendEvent(event[:0], batch)
			n := 0
			for _, b := range batch {
				n += len(b)
			}
			clear(batch)
			if err := t.flush(w, event); err != nil {
				return err
			}
			if cap(event) > 64<<10 {
				event = nil
			}
			t.mu.Lock()
			t.queued -= n
			t.mu.Unlock()
		}
		if closing == closeGraceful {
			t.mu.Lock()
			more := len(t.queue) > 0
			t.mu.Unlock()
			if !more {
				return nil
			}
		}
	}
}

// flush writes b and flushes it to the client within sendTimeout.
func (t *sseTransport) flush(w http.ResponseWriter, b []byte) error {
	_ = t.rc.SetWriteDeadline(time.Now().Add(sendTimeout))
	if _, err := w.Write(b); err != nil {
		return err
	}
	return t.rc.Flush()
}

// appendEvent appends the frames as one event: "data: <line>\r\n" for each
// line of their bytes (a line's trailing \r dropped), then "\r\n". Frames
// are whole hub messages, so no message is ever split across events.
func appendEvent(dst []byte, frames [][]byte) []byte {
	dst = append(dst, "data: "...)
	for _, f := range frames {
		for {
			i := bytes.IndexByte(f, '\n')
			if i < 0 {
				dst = append(dst, f...)
				break
			}
			dst = append(dst, bytes.TrimSuffix(f[:i], []byte{'\r'})...)
			dst = append(dst, "\r\ndata: "...)
			f = f[i+1:]
		}
	}
	return append(dst, "\r\n\r\n"...)
}
