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
