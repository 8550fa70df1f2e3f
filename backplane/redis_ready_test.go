package backplane_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/backplane/redistest"
)

// TestRedisReady: Ready answers what a readiness probe needs: nil while
// Redis answers, ErrUnavailable while it is gone (at once, not after a
// publish failed), nil again once it is back, ErrClosed after Close.
func TestRedisReady(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, srv.URL(), "ready:")
	ready := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return r.Ready(ctx)
	}
	if err := ready(); err != nil {
		t.Fatalf("Ready with Redis up: %v", err)
	}
	srv.Stop()
	if err := ready(); !errors.Is(err, backplane.ErrUnavailable) {
		t.Fatalf("Ready with Redis down: %v", err)
	}
	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("Ready after Redis came back: %v", ready())
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.Close()
	if err := ready(); !errors.Is(err, backplane.ErrClosed) {
		t.Fatalf("Ready after Close: %v", err)
	}
}
