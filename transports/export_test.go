package transports

import "github.com/actorhub/actorhub/hub"

// Waiting reports whether the connection of token lost its WebSocket and
// waits for its client to reattach, its token kept.
func Waiting(h *Handler, token string) bool {
	h.conns.mu.Lock()
	var c hub.Conn
	if e, kept := h.conns.kept[token]; kept {
		c = e.conn
	}
	h.conns.mu.Unlock()
	return c != (hub.Conn{}) && c.Waiting()
}

// longPollOf finds the long polling transport of token.
func longPollOf(h *Handler, token string) *longPoll {
	h.conns.mu.Lock()
	defer h.conns.mu.Unlock()
	return h.conns.polling[token]
}

// Polling reports whether the long polling connection of token has a poll
// waiting at the server.
func Polling(h *Handler, token string) bool {
	lp := longPollOf(h, token)
	if lp == nil {
		return false
	}
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return lp.waiting != nil
}

// Queued is the number of frames the long polling connection of token
// holds for its next poll.
func Queued(h *Handler, token string) int {
	lp := longPollOf(h, token)
	if lp == nil {
		return 0
	}
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return len(lp.queue)
}
