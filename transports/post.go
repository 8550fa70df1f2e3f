package transports

import (
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/actorhub/actorhub/hub"
)

// errBodyTooLarge closes a connection whose client POSTed more than a
// transport message may carry.
var errBodyTooLarge = errors.New("transports: POST body over the size limit")

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
	if e.transport == wsName {
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
	for {
		n, err := r.Body.Read(buf)
		if n > 0 {
			if total += n; total > h.postMax {
				h.tooLarge(w, e.http)
				return
			}
			c.Feed(buf[:n])
		}
		if err == io.EOF {
			break
		}
		if err != nil { // the client went away mid-body
			h.log.Debug("reading a POST body", "err", err)
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
