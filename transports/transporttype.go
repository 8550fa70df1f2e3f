package transports

import (
	"fmt"
	"strings"
)

// TransportType is a set of transports, one bit each, with ASP.NET Core's
// HttpTransportType values.
type TransportType uint8

// The transports.
const (
	WebSockets       TransportType = 1 << iota // WebSockets, text and binary
	ServerSentEvents                           // Server-Sent Events (+ POST), text only
	LongPolling                                // long polling (+ POST), text and binary

	AllTransports = WebSockets | ServerSentEvents | LongPolling
)

// String lists the set's transports by the names negotiate uses, joined by
// commas ("WebSockets,LongPolling").
func (t TransportType) String() string {
	var names []string
	for _, n := range []struct {
		bit  TransportType
		name string
	}{{WebSockets, wsName}, {ServerSentEvents, sseName}, {LongPolling, lpName}} {
		if t&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	if rest := t &^ AllTransports; rest != 0 {
		names = append(names, fmt.Sprintf("%#x", uint(rest)))
	}
	return strings.Join(names, ",")
}

// ParseTransports reads a comma-separated list of transports: websockets
// (or ws), sse (or serversentevents), longpolling (or lp), in any letter
// case. An empty list is an error: some transport must be served.
func ParseTransports(s string) (TransportType, error) {
	var t TransportType
	for _, name := range strings.Split(s, ",") {
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "websockets", "ws":
			t |= WebSockets
		case "sse", "serversentevents":
			t |= ServerSentEvents
		case "longpolling", "lp":
			t |= LongPolling
		case "":
		default:
			return 0, fmt.Errorf("transports: unknown transport %q (want websockets, sse or longpolling)", strings.TrimSpace(name))
		}
	}
	if t == 0 {
		return 0, fmt.Errorf("transports: no transport in %q", s)
	}
	return t, nil
}
