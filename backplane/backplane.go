package backplane

import (
	"context"
	"errors"
	"time"
)

// Errors of every Backplane.
var (
	// ErrUnavailable: the backplane cannot be reached now. Publishes fail
	// with it at once, rather than wait, until the backplane is back.
	ErrUnavailable = errors.New("backplane: unavailable")
	// ErrClosed: the backplane was closed.
	ErrClosed = errors.New("backplane: closed")
)

// Handler receives a message of a subscribed channel. msg is valid only
// until Handler returns. Handlers run on the backplane's receiving
// goroutine, one at a time and in order: they must not block.
type Handler func(channel string, msg []byte)

// Backplane is publish/subscribe between the nodes of a hub, plus presence.
type Backplane interface {
	// Publish sends msg to every subscriber of channel on every node (this
	// node's own subscribers included). It does not wait: the messages one
	// node publishes reach each subscriber in the order of the Publish
	// calls. done, when not nil, is called once it is known how many nodes
	// received the message, or that it failed; it must not block. An error
	// from Publish itself (ErrUnavailable, ErrClosed) means the message was
	// not sent and done will not be called.
	Publish(channel string, msg []byte, done func(receivers int, err error)) error

	// Subscribe starts delivering channel's messages to h. The returned
	// channel is closed once the subscription is in effect: a message
	// published after that reaches h. While the backplane is unavailable it
	// is closed at once, and the subscription takes effect when the
	// backplane is back. Subscribing to a subscribed channel replaces its
	// handler.
	Subscribe(channel string, h Handler) <-chan struct{}

	// Unsubscribe stops channel's messages; subscriptions and
	// unsubscriptions of one channel take effect in the order of the calls.
	Unsubscribe(channel string)

	// PutPresence records what a node reports about itself under set: a
	// count per name. It replaces the node's previous report and is
	// forgotten after ttl unless put again.
	PutPresence(ctx context.Context, set, node string, counts map[string]int64, ttl time.Duration) error

	// Presence is name's count in the report of every live node of set.
	Presence(ctx context.Context, set, name string) (map[string]int64, error)

	// DropPresence forgets a node's report at once.
	DropPresence(ctx context.Context, set, node string) error

	// Close stops the backplane's goroutines and releases its connections.
	Close() error
}
