package backplane_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/backplane/redistest"
)

// inbox collects what a handler receives.
type inbox struct {
	mu   sync.Mutex
	msgs []string
}

func (b *inbox) handle(channel string, msg []byte) {
	b.mu.Lock()
	b.msgs = append(b.msgs, channel+"="+string(msg))
	b.mu.Unlock()
}

func (b *inbox) get() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.msgs...)
}

func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newRedis(t *testing.T, url, prefix string) *backplane.Redis {
	t.Helper()
	r, err := backplane.NewRedis(backplane.RedisConfig{URL: url, Prefix: prefix, OpTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func publish(t *testing.T, b backplane.Backplane, channel, msg string) int {
	t.Helper()
	got := make(chan int, 1)
	var perr error
	if err := b.Publish(channel, []byte(msg), func(n int, err error) { perr = err; got <- n }); err != nil {
		t.Fatal(err)
	}
	n := <-got
	if perr != nil {
		t.Fatal(perr)
	}
	return n
}

// Subscriptions take effect when Subscribe's channel closes; messages of one
// publisher arrive in order; prefixes keep applications apart.
func TestRedisPublishSubscribe(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newRedis(t, srv.URL(), "app1:"), newRedis(t, srv.URL(), "app1:")
	other := newRedis(t, srv.URL(), "app2:")
	var got, otherGot inbox
	<-b.Subscribe("ch", got.handle)
	<-other.Subscribe("ch", otherGot.handle)
	if n := publish(t, a, "ch", "first"); n != 1 {
		t.Fatalf("receivers: %d, want 1", n)
	}
	const n = 2000
	for i := range n {
		if err := a.Publish("ch", []byte(strconv.Itoa(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "every message", 5*time.Second, func() bool { return len(got.get()) == n+1 })
	for i, m := range got.get()[1:] {
		if m != "ch="+strconv.Itoa(i) {
			t.Fatalf("message %d: %q (out of order)", i, m)
		}
	}
	if len(otherGot.get()) != 0 {
		t.Fatalf("another prefix got %q", otherGot.get())
	}
	b.Unsubscribe("ch")
	eventually(t, "unsubscribed", 5*time.Second, func() bool { return publish(t, a, "ch", "after") == 0 })
}

// Many subscriptions at once (as connections arrive) all take effect.
func TestRedisManySubscriptions(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newRedis(t, srv.URL(), ""), newRedis(t, srv.URL(), "")
	var got inbox
	var readies []<-chan struct{}
	for i := range 3000 {
		readies = append(readies, b.Subscribe(fmt.Sprint("c", i), got.handle))
	}
	for _, r := range readies {
		<-r
	}
	for i := range 3000 {
		if err := a.Publish(fmt.Sprint("c", i), []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "a message on each", 10*time.Second, func() bool { return len(got.get()) == 3000 })
}

func TestRedisUnreachableAtStart(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	start := time.Now()
	_, err := backplane.NewRedis(backplane.RedisConfig{URL: srv.URL(), DialTimeout: 500 * time.Millisecond})
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
	t.Log(err)
	if _, err := backplane.NewRedis(backplane.RedisConfig{URL: "http://nope"}); err == nil {
		t.Fatal("a bad URL was accepted")
	}
}

// Redis stops: publishes fail fast. Redis returns: the backplane finds it,
// subscribes again, and messages flow.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newRedis(t, srv.URL(), "p:"), newRedis(t, srv.URL(), "p:")
	var got inbox
	<-b.Subscribe("ch", got.handle)
	publish(t, a, "ch", "before")
	eventually(t, "before", 5*time.Second, func() bool { return len(got.get()) == 1 })

	srv.Stop()
	failed := make(chan error, 1)
	start := time.Now()
	if err := a.Publish("ch", []byte("lost"), func(_ int, err error) { failed <- err }); err == nil {
		if err := <-failed; !errors.Is(err, backplane.ErrUnavailable) {
			t.Fatalf("publish while down: %v", err)
		}
	}
	if err := a.Publish("ch", []byte("lost"), nil); !errors.Is(err, backplane.ErrUnavailable) {
		t.Fatalf("second publish while down: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("failing took %v", d)
	}
	// A subscription made while down is not waited for; it takes effect later.
	var late inbox
	select {
	case <-a.Subscribe("late", late.handle):
	case <-time.After(2 * time.Second):
		t.Fatal("Subscribe waited for a Redis that is down")
	}

	srv.Restart()
	eventually(t, "delivery after Redis returns", 15*time.Second, func() bool {
		_ = a.Publish("ch", []byte("after"), nil)
		_ = b.Publish("late", []byte("after"), nil)
		time.Sleep(50 * time.Millisecond)
		msgs := got.get()
		return len(late.get()) > 0 && msgs[len(msgs)-1] == "ch=after"
	})
}

func TestRedisPresence(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newRedis(t, srv.URL(), "x:"), newRedis(t, srv.URL(), "x:")
	ctx := context.Background()
	if err := a.PutPresence(ctx, "hub:nodes", "n1", map[string]int64{"all": 3, "g:room": 2}, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := b.PutPresence(ctx, "hub:nodes", "n2", map[string]int64{"all": 1}, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := b.Presence(ctx, "hub:nodes", "g:room")
	if err != nil || got["n1"] != 2 || got["n2"] != 0 || len(got) != 2 {
		t.Fatalf("presence: %v, %v", got, err)
	}
	eventually(t, "n1 expired", 3*time.Second, func() bool {
		got, err := b.Presence(ctx, "hub:nodes", "all")
		return err == nil && len(got) == 1 && got["n2"] == 1
	})
	if err := b.DropPresence(ctx, "hub:nodes", "n2"); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Presence(ctx, "hub:nodes", "all"); len(got) != 0 {
		t.Fatalf("after drop: %v", got)
	}
}
