package transports

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/actorhub/actorhub/hub"
)

// errBodyTooLarge closes a connection whose client POSTed more than a
// transport message may carry.
var errBodyTooLarge = errors.New("transports: POST body over the size limit")

// errBodyTooSlow ends a POST whose body comes slower than minBodyRate.
var errBodyTooSlow = errors.New("transports: POST body slower than 240 bytes per second")

// postBufs holds the read buffers of POST bodies.
var postBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// servePost answers POST <hub>?id=T, the send half of Server-Sent Events
// and long polling: the body holds one or more hub messages, which go to
// the connection as they are read; 200 once they are all in. POSTs to one
// connection run one at a time.
func (h *Handler) servePost(w http.ResponseWriter, r *http.Request) {
	e, ok := h.ownedEntry(w, r)
	if !ok {
		return
	}
	if e.transport == WebSockets {
		plainText(w, http.StatusMethodNotAllowed, "POST requests are not allowed for WebSocket connections.")
		return
	}
	c := e.http.connection()
	if c == (hub.Conn{}) { // no transport has started the connection yet
		claimError(w, http.StatusNotFound)
		return
	}

	e.http.postMu.Lock()
	defer e.http.postMu.Unlock()
	if r.ContentLength > int64(h.postMax) {
		h.tooLarge(w, e.http)
		return
	}
	bp := postBufs.Get().(*[]byte)
	defer postBufs.Put(bp)
	buf, total := *bp, 0
	body := newBodyReader(w, r.Body)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if total += n; total > h.postMax {
				h.tooLarge(w, e.http)
				return
			}
			c.Feed(buf[:n])
			// Over the inbound budget, the rest of the body waits in the
			// socket: TCP pushes back on the client.
			if err := c.WaitRoom(r.Context()); err != nil {
				if errors.Is(err, hub.ErrDisconnected) {
					break // the connection ended: nothing more is read
				}
				return // the client went away
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil { // the client went away mid-body, or sent it too slowly
			h.log.Debug("reading a POST body", "err", err)
			body.answerTimeout(w, err)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

// tooLarge answers a POST over the size limit with 413 and closes the
// connection as an oversized hub message would.
func (h *Handler) tooLarge(w http.ResponseWriter, hc *httpConn) {
	if c := hc.connection(); c != (hub.Conn{}) {
		c.CloseWithError(errBodyTooLarge)
	}
	plainText(w, http.StatusRequestEntityTooLarge, "")
}

// Kestrel's MinRequestBodyDataRate: a request body must come at 240 bytes
// per second or more, after a grace period of 5 s, counting only the time
// the server waits to read (a POST held while its connection catches up
// does not count against its client).
const (
	minBodyRate  = 240 // bytes per second
	minBodyGrace = 5 * time.Second
)

// bodyReader reads a POST body with a read deadline set before each Read
// from the least rate: a client that trickles its body (or stops) is cut
// at the deadline, whatever the http.Server's ReadTimeout. When the body
// ends, the answer gets sendTimeout to be written.
type bodyReader struct {
	rc      *http.ResponseController
	body    io.Reader
	n       int64         // bytes read
	reading time.Duration // time spent in Read
}

func newBodyReader(w http.ResponseWriter, body io.Reader) *bodyReader {
	return &bodyReader{rc: http.NewResponseController(w), body: body}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	allowed := minBodyGrace + time.Duration(b.n)*time.Second/minBodyRate - b.reading
	if allowed <= 0 {
		return 0, errBodyTooSlow
	}
	start := time.Now()
	_ = b.rc.SetReadDeadline(start.Add(allowed))
	n, err := b.body.Read(p)
	b.reading += time.Since(start)
	b.n += int64(n)
	if err == io.EOF {
		_ = b.rc.SetWriteDeadline(time.Now().Add(sendTimeout))
	}
	return n, err
}

// answerTimeout answers 408, as Kestrel does, when err is the body's
// deadline passing.
func (b *bodyReader) answerTimeout(w http.ResponseWriter, err error) {
	if errors.Is(err, errBodyTooSlow) || errors.Is(err, os.ErrDeadlineExceeded) {
		_ = b.rc.SetWriteDeadline(time.Now().Add(sendTimeout))
		plainText(w, http.StatusRequestTimeout, "")
	}
}
