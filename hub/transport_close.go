package hub

import "github.com/actorhub/actorhub/protocol"

// OnlyClose reports whether data holds one or more whole hub messages of
// the connection's protocol, all of them Close messages: what a client
// that stops sends last. It is false before a handshake chose the
// protocol, and for the zero Conn. Call it between Feeds, not during one.
func (c Conn) OnlyClose(data []byte) bool {
	if c.c == nil {
		return false
	}
	return onlyClose(c.c.Protocol(), data)
}

// maxCloseMessage bounds what OnlyClose reads of one message: a Close
// with a long error text fits.
const maxCloseMessage = 4 << 10

func onlyClose(proto protocol.Protocol, data []byte) bool {
	if proto == nil || len(data) == 0 {
		return false
	}
	for len(data) > 0 {
		m, rest, err := proto.ReadMessage(data, maxCloseMessage)
		if err != nil || m.Type() != protocol.TypeClose {
			return false
		}
		data = rest
	}
	return true
}
