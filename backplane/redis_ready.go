package backplane

import (
	"context"
	"fmt"
)

// Ready reports whether Redis can be used now: nil when it answers a PING
// within ctx, ErrUnavailable (wrapped) while publishes are failing or it
// does not answer, ErrClosed after Close. It costs one round trip; a
// readiness probe should not call it more than about once a second.
func (r *Redis) Ready(ctx context.Context) error {
	if r.closed.Load() {
		return ErrClosed
	}
	if r.down.Load() {
		return ErrUnavailable
	}
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}
