package transports

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/actorhub/actorhub/hub"
)

// serveLongPoll answers GET <hub>?id=T without Upgrade or an event-stream
// Accept: a long poll. The first poll of a negotiated connection makes the
// connection and returns 200 with an empty body at once; later polls wait
// for data and carry all that is queued.
func (h *Handler) serveLongPoll(w http.ResponseWriter, r *http.Request) {
	user, claims, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	token, ok := requestToken(w, r)
	if !ok {
		return
	}
	noCache(w)
	lp := &longPoll{h: h, token: token, idle: h.now()}
	hc := &httpConn{lp: lp}
	lp.hc = hc
	e, _, status := h.conns.claim(token, LongPolling, user, hc)
	switch status {
	case 0:
	case http.StatusConflict: // a connection polling already
		e.http.lp.poll(w, r)
		return
	default:
		claimError(w, status)
		return
	}
	c, err := h.srv.Connect(hub.ConnInfo{ID: e.id, UserID: user, Claims: claims, NoKeepAlive: true, Transport: lpName, Request: h.keep(r)}, lp)
	if err != nil { // shutting down
		h.conns.remove(token)
		plainText(w, http.StatusServiceUnavailable, "")
		return
	}
	lp.mu.Lock()
	lp.conn = c
	ended := lp.closing // Close came first (the engine shut down meanwhile)
	lp.mu.Unlock()
	hc.setConnection(c)
	if ended {
		c.Closed(nil)
	}
	emptyReply(w, http.StatusOK)
}

// serveDelete answers DELETE <hub>?id=T: the long polling client's stop.
// The connection ends (a pending poll gets 204); see ended.go for what its
// token answers afterwards.
func (h *Handler) serveDelete(w http.ResponseWriter, r *http.Request) {
	e, ok := h.ownedEntry(w, r)
	if !ok {
		return
	}
	if e.transport != LongPolling {
		plainText(w, http.StatusBadRequest, "Cannot terminate this connection using the DELETE endpoint.")
		return
	}
	e.http.lp.stop()
	emptyReply(w, http.StatusAccepted)
}

func noCache(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-cache, no-store")
	hd.Set("Pragma", "no-cache")
	hd.Set("Expires", "Thu, 01 Jan 1970 00:00:00 GMT")
}

// emptyReply answers with status and no body, as ASP.NET does (text/plain).
func emptyReply(w http.ResponseWriter, status int) { plainText(w, status, "") }

// longPoll is the transport of a long polling connection: frames wait in
// queue until a poll takes them all. Between polls nothing runs for it; the
// handler's janitor closes it after DisconnectTimeout without a poll.
type longPoll struct {
	h     *Handler
	token string
	hc    *httpConn

	mu       sync.Mutex
	conn     hub.Conn      // guarded by mu: set once the first poll made it
	queue    [][]byte      // guarded by mu: frames waiting for a poll
	queued   int           // guarded by mu: their bytes
	waiting  *pollWait     // guarded by mu: the pending poll, or nil
	idle     time.Duration // guarded by mu: when the last poll ended (Handler.now)
	closing  bool          // guarded by mu: the connection ended; polls get what is queued, then 204
	dropped  bool          // guarded by mu: cut: the pending poll's TCP connection is cut too
	reported bool          // guarded by mu: Conn.Closed was called (or will be, by the first poll)
}

// pollWait is one pending poll.
type pollWait struct {
	wake       chan struct{} // capacity 1
	superseded bool          // guarded by longPoll.mu: a newer poll took over
}

var _ hub.Transport = (*longPoll)(nil)

func (lp *longPoll) Framed() bool { return false }

func (lp *longPoll) Write(bufs [][]byte) error {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.closing {
		return errTransportDone
	}
	for _, b := range bufs {
		lp.queue = append(lp.queue, b)
		lp.queued += len(b)
	}
	lp.wakeLocked()
	return nil
}

func (lp *longPoll) Buffered() int {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return lp.queued
}

// Close ends the connection. Graceful: what is queued still goes to the
// next poll, then polls get 204. Otherwise the pending poll's TCP
// connection is cut, the queue dropped, and the token forgotten (later
// polls get 404): the client sees an error, not a clean end.
func (lp *longPoll) Close(graceful bool) {
	if !graceful {
		lp.end(errDropped, true)
		return
	}
	lp.mu.Lock()
	lp.closing = true
	lp.wakeLocked()
	c := lp.reportLocked()
	lp.mu.Unlock()
	if c != (hub.Conn{}) {
		c.Closed(nil)
	}
}

// end closes the connection for good: the queue is dropped, a pending poll
// gets 204 (or a cut TCP connection with drop), the token is forgotten and
// the connection hears err.
func (lp *longPoll) end(err error, drop bool) {
	lp.h.conns.remove(lp.token)
	lp.close(err, drop)
}

// stop is end for the client's DELETE: the token is kept a while as ended
// (see ended.go), its DELETE answered.
func (lp *longPoll) stop() {
	lp.h.conns.finish(lp.token, lp.hc, lp.h.now(), true)
	lp.close(nil, false)
}

func (lp *longPoll) close(err error, drop bool) {
	lp.mu.Lock()
	lp.closing = true
	lp.dropped = lp.dropped || drop
	lp.queue, lp.queued = nil, 0
	lp.wakeLocked()
	c := lp.reportLocked()
	lp.mu.Unlock()
	if c != (hub.Conn{}) {
		c.Closed(err)
	}
}

// expire ends the connection when no poll came since cutoff.
func (lp *longPoll) expire(cutoff time.Duration) {
	lp.mu.Lock()
	idle := lp.waiting == nil && lp.idle < cutoff
	lp.mu.Unlock()
	if idle {
		lp.end(errInactive, false)
	}
}

// reportLocked returns the connection to tell Closed, once; the zero Conn
// when it was told already or is not made yet (the first poll tells it
// then).
func (lp *longPoll) reportLocked() hub.Conn {
	if lp.reported {
		return hub.Conn{}
	}
	lp.reported = true
	return lp.conn
}

func (lp *longPoll) wakeLocked() {
	if lp.waiting != nil {
		select {
		case lp.waiting.wake <- struct{}{}:
		default:
		}
	}
}

// poll answers one poll of a running connection.
func (lp *longPoll) poll(w http.ResponseWriter, r *http.Request) {
	h := lp.h
	lp.mu.Lock()
	if old := lp.waiting; old != nil { // the newer poll takes over
		old.superseded = true
		lp.wakeLocked()
	}
	p := &pollWait{wake: make(chan struct{}, 1)}
	lp.waiting = p
	ready := len(lp.queue) > 0 || lp.closing
	lp.mu.Unlock()

	gone := false
	if !ready {
		timer := time.NewTimer(h.pollWait)
		select {
		case <-p.wake:
		case <-timer.C:
		case <-r.Context().Done():
			gone = true
		case <-h.stop:
		}
		timer.Stop()
	}

	lp.mu.Lock()
	if lp.waiting == p {
		lp.waiting = nil
		lp.idle = h.now()
	}
	superseded, dropped, closing := p.superseded, lp.dropped, lp.closing
	var data [][]byte
	n := 0
	if !superseded && !gone && !dropped {
		data, n = lp.queue, lp.queued
		lp.queue, lp.queued = nil, 0
	}
	lp.mu.Unlock()

	// The answer gets its own time to be written, whatever the http.Server's
	// WriteTimeout, which the wait may have used up.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(sendTimeout))
	switch {
	case gone: // nobody to answer; what is queued waits for the next poll
	case dropped:
		panic(http.ErrAbortHandler)
	case superseded:
		emptyReply(w, http.StatusNoContent)
	case len(data) > 0:
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.WriteHeader(http.StatusOK)
		for _, b := range data {
			if _, err := w.Write(b); err != nil {
				break
			}
		}
		clear(data)
	case closing:
		h.conns.finish(lp.token, lp.hc, h.now(), false)
		emptyReply(w, http.StatusNoContent)
	default: // poll timeout (or the handler closing): come again
		emptyReply(w, http.StatusOK)
	}
}
