package transports

import (
	"io"
	"net/http"
	"time"
)

// A client that stops a Server-Sent Events or long polling connection
// sends its Close message by POST and, at the same time, ends its transport:
// it closes the event stream, or aborts its poll and sends DELETE. The
// server sees these requests in either order. Had it forgotten the token
// as soon as the connection ended, whichever came second would get 404,
// which a browser logs as an error, although nothing went wrong.
//
// So for a while (until the janitor's first scan after DisconnectTimeout)
// the token of a connection that ended without being dropped is kept as an
// endedConn, which answers only what a stopping client sends:
//
//   - a POST that holds nothing but Close messages gets 200 (the
//     connection is closed already; nothing is fed to it);
//   - the first DELETE of a long polling connection gets 202, as for a live
//     one (ASP.NET answers 202 to a DELETE while it disposes the connection);
//
// and everything else gets 404 as before: polls, other POSTs, a second
// DELETE. Another user's request gets 403.

// endedConn is the token of a connection that ended moments ago.
type endedConn struct {
	user      string
	transport TransportType // ServerSentEvents or LongPolling
	hc        *httpConn     // what its requests shared
	at        time.Duration // Handler.now when it ended
	deleted   bool          // a DELETE was answered already
}

// maxCloseBody bounds the POST read to check that it holds only Close
// messages: a Close with a long error text fits, anything longer is not a
// stopping client's.
const maxCloseBody = 4 << 10

// finish forgets the live connection of token and keeps it as ended.
// deleted says that its client's DELETE ended it.
func (t *tokens) finish(token string, hc *httpConn, now time.Duration, deleted bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[token]
	if !ok {
		return
	}
	t.removeLocked(token)
	t.ended[token] = &endedConn{user: e.user, transport: e.transport, hc: hc, at: now, deleted: deleted}
}

// endedFor returns the ended connection of token if it is user's, or the
// status to answer: 404 when there is none, 403 when it is another user's.
func (t *tokens) endedFor(token, user string) (endedConn, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ec, ok := t.ended[token]
	switch {
	case !ok:
		return endedConn{}, http.StatusNotFound
	case ec.user != user:
		return endedConn{}, http.StatusForbidden
	}
	return *ec, http.StatusOK
}

// markDeleted records the DELETE of an ended long polling connection; it
// reports false when there was one already (or the token is gone).
func (t *tokens) markDeleted(token string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	ec, ok := t.ended[token]
	if !ok || ec.deleted || ec.transport != LongPolling {
		return false
	}
	ec.deleted = true
	return true
}

func (t *tokens) expireEndedLocked(cutoff time.Duration) {
	for k, ec := range t.ended {
		if ec.at < cutoff {
			delete(t.ended, k)
		}
	}
}

// afterEnd answers a POST or DELETE for token, which names no live
// connection (see the top of this file).
func (h *Handler) afterEnd(w http.ResponseWriter, r *http.Request, token, user string) {
	ec, status := h.conns.endedFor(token, user)
	if status != http.StatusOK {
		claimError(w, status)
		return
	}
	switch r.Method {
	case http.MethodDelete:
		if h.conns.markDeleted(token) {
			emptyReply(w, http.StatusAccepted)
			return
		}
	case http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, maxCloseBody+1))
		if err == nil && len(body) <= maxCloseBody && ec.onlyClose(body) {
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	claimError(w, http.StatusNotFound)
}

// onlyClose reports whether body holds nothing but Close messages of the
// connection's protocol. It holds postMu, as a POST that feeds the
// connection does: the protocol is chosen by the handshake a POST carries.
func (ec *endedConn) onlyClose(body []byte) bool {
	if ec.hc == nil {
		return false
	}
	ec.hc.postMu.Lock()
	defer ec.hc.postMu.Unlock()
	return ec.hc.connection().OnlyClose(body)
}
