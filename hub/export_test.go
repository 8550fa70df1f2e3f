package hub

// Holds reports whether the hub still holds a connection of that id (in any
// state: handshake, connected, waiting for a reattach).
func Holds(h *Hub, id string) bool {
	_, ok := h.engine.Conn(id)
	return ok
}

// GroupsOf is the named groups a connection of this node is in.
func GroupsOf(h *Hub, id string) []string {
	c, ok := h.engine.Conn(id)
	if !ok {
		return nil
	}
	return c.GroupKeys()
}
