package hub

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/actorhub/actorhub/protocol"
)

// Defaults of Config: a zero field takes the one its comment names.
// cmd/server's flags start from them.
const (
	// DefaultKeepAliveInterval is ASP.NET Core's KeepAliveInterval.
	DefaultKeepAliveInterval = 15 * time.Second
	// DefaultClientTimeoutInterval is ASP.NET Core's ClientTimeoutInterval.
	DefaultClientTimeoutInterval = 30 * time.Second
	// DefaultHandshakeTimeout is ASP.NET Core's HandshakeTimeout.
	DefaultHandshakeTimeout = 15 * time.Second
	// DefaultMaximumReceiveMessageSize is ASP.NET Core's
	// MaximumReceiveMessageSize: 32 KiB.
	DefaultMaximumReceiveMessageSize = 32 << 10
	// DefaultMaxTransportMessageSize is the least a zero
	// Config.MaxTransportMessageSize gets: 1 MiB.
	DefaultMaxTransportMessageSize = 1 << 20
	// DefaultMaxBufferedBytes is the outgoing budget of one connection: 1 MiB.
	DefaultMaxBufferedBytes = 1 << 20
	// DefaultStatefulReconnectBufferSize is ASP.NET Core's
	// StatefulReconnectBufferSize.
	DefaultStatefulReconnectBufferSize = 100_000
	// DefaultDisconnectTimeout is ASP.NET Core's
	// ConnectionOptions.DisconnectTimeout.
	DefaultDisconnectTimeout = 15 * time.Second
	// DefaultMaxInboundBytes bounds, per connection, the memory held by the
	// messages its client sent that the hub has not handled yet (each
	// counts its bytes plus 256 B for its decoded form): ASP.NET
	// Core's ApplicationMaxBufferSize (64 KB), past which Kestrel stops
	// reading the socket. nats-server bounds a client's pending bytes by
	// max_pending (64 MB, outbound) and disconnects past it; here reading
	// pauses instead, and TCP flow control pushes back on the client.
	DefaultMaxInboundBytes = 64 << 10
	// DefaultMaxInboundMessages bounds, per connection, the messages its
	// client sent that the hub has not handled yet. ASP.NET Core counts
	// only bytes; a count also bounds the memory of many tiny messages
	// (a few hundred bytes each once decoded). A client whose hub keeps up
	// never has more than a few waiting.
	DefaultMaxInboundMessages = 1024
	// DefaultMaxGroupsPerConnection bounds the groups one connection is a
	// member of. ASP.NET Core has no such bound; Centrifugo's
	// client_channel_limit is 128. A SignalR server's joins are made by hub
	// code (one group per room, document, topic), not asked for by the
	// client, so the default leaves room: 1024 groups, each about 1.3 KB
	// of Go heap while it exists only for that connection, bound what one
	// connection can make the server hold to about 1.3 MB.
	DefaultMaxGroupsPerConnection = 1024
	// DefaultAckTimeout bounds a wait for the backplane.
	DefaultAckTimeout = 10 * time.Second
	// DefaultNodeExpiry is how long a node that died keeps counting.
	DefaultNodeExpiry = 15 * time.Second
	// DefaultMaxBackplaneMessageSize bounds one message across the
	// backplane: 1 MiB.
	DefaultMaxBackplaneMessageSize = 1 << 20
	// DefaultMaxUserGroups bounds the user group memberships a hub keeps.
	DefaultMaxUserGroups = 100_000
)

const (
	// transportMessagesPerHubMessage: a zero MaxTransportMessageSize is this
	// many hub messages, so that a client may batch a few.
	transportMessagesPerHubMessage = 4
	// unlimitedTransportMessageSize is a zero MaxTransportMessageSize's
	// value when hub messages have no limit: transport messages keep one.
	unlimitedTransportMessageSize = 64 << 20
	// unlimitedInboundBytes and unlimitedInboundMessages are the inbound
	// budget when Config says none: the largest the engine takes.
	unlimitedInboundBytes    = 1 << 36
	unlimitedInboundMessages = 1 << 20
)

// withDefaults returns c with every zero field set to its default, or an
// error naming a field that cannot be taken. impl is the hub value (its
// type names a hub without a Name).
func (c Config) withDefaults(impl any) (Config, error) {
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"KeepAliveInterval", &c.KeepAliveInterval, DefaultKeepAliveInterval},
		{"ClientTimeoutInterval", &c.ClientTimeoutInterval, DefaultClientTimeoutInterval},
		{"HandshakeTimeout", &c.HandshakeTimeout, DefaultHandshakeTimeout},
		{"DisconnectTimeout", &c.DisconnectTimeout, DefaultDisconnectTimeout},
		{"AckTimeout", &c.AckTimeout, DefaultAckTimeout},
		{"NodeExpiry", &c.NodeExpiry, DefaultNodeExpiry},
	} {
		switch {
		case *d.v < 0:
			return c, fmt.Errorf("hub: Config.%s is negative (%v)", d.name, *d.v)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	for _, d := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxBufferedBytes", &c.MaxBufferedBytes, DefaultMaxBufferedBytes},
		{"StatefulReconnectBufferSize", &c.StatefulReconnectBufferSize, DefaultStatefulReconnectBufferSize},
		{"MaxBackplaneMessageSize", &c.MaxBackplaneMessageSize, DefaultMaxBackplaneMessageSize},
		{"MaxUserGroups", &c.MaxUserGroups, DefaultMaxUserGroups},
		{"MaxTransportMessageSize", &c.MaxTransportMessageSize, c.transportMessageSize()},
	} {
		switch {
		case *d.v < 0:
			return c, fmt.Errorf("hub: Config.%s is negative (%d)", d.name, *d.v)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	for _, d := range []struct {
		v          *int
		def, unset int
	}{
		{&c.MaxInboundBytes, DefaultMaxInboundBytes, unlimitedInboundBytes},
		{&c.MaxInboundMessages, DefaultMaxInboundMessages, unlimitedInboundMessages},
	} {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0:
			*d.v = d.unset
		default:
			*d.v = min(*d.v, d.unset)
		}
	}
	switch {
	case c.MaxGroupsPerConnection == 0:
		c.MaxGroupsPerConnection = DefaultMaxGroupsPerConnection
	case c.MaxGroupsPerConnection < 0:
		c.MaxGroupsPerConnection = -1 // no limit
	}
	switch {
	case c.MaximumReceiveMessageSize == 0:
		c.MaximumReceiveMessageSize = DefaultMaximumReceiveMessageSize
	case c.MaximumReceiveMessageSize < 0:
		c.MaximumReceiveMessageSize = -1 // no limit
	}
	if c.Protocols == nil {
		c.Protocols = []protocol.Protocol{protocol.JSON, protocol.MessagePack}
	}
	if c.Name == "" {
		c.Name = strings.TrimLeft(fmt.Sprintf("%T", impl), "*")
	}
	if c.NodeID == "" && c.Backplane != nil {
		var b [6]byte
		_, _ = rand.Read(b[:])
		c.NodeID = hex.EncodeToString(b[:])
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// transportMessageSize is a zero MaxTransportMessageSize's value: a few hub
// messages, at least DefaultMaxTransportMessageSize.
func (c Config) transportMessageSize() int {
	switch {
	case c.MaximumReceiveMessageSize < 0:
		return unlimitedTransportMessageSize
	case c.MaximumReceiveMessageSize == 0:
		return max(DefaultMaxTransportMessageSize, transportMessagesPerHubMessage*DefaultMaximumReceiveMessageSize)
	}
	return max(DefaultMaxTransportMessageSize, transportMessagesPerHubMessage*c.MaximumReceiveMessageSize)
}
