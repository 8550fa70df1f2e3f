package hub_test

import (
	"sync"
	"testing"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
)

// background sends to the caller from goroutines it starts: one that sends
// while the method still runs, one that sends after it returned.
type background struct{ wg sync.WaitGroup }

func (b *background) Spawn(ctx *hub.Context) {
	during := make(chan struct{})
	b.wg.Add(2)
	go func() {
		defer b.wg.Done()
		_ = ctx.Clients.Caller().Send("During")
		_ = ctx.Clients.All().Send("DuringAll")
		close(during)
	}()
	<-during
	go func() {
		defer b.wg.Done()
		_ = ctx.Clients.Caller().Send("After")
		_ = ctx.Clients.All().Send("AfterAll")
	}()
}

// A hub method's Clients may be used from other goroutines, during the call
// and after it (run with -race): every message arrives, once.
func TestClientsFromOtherGoroutines(t *testing.T) {
	b := &background{}
	h := newHub(t, b, hub.Config{})
	c := open(t, h, "bg", "")
	for range 20 {
		c.invoke("Spawn")
	}
	b.wg.Wait()
	for _, target := range []string{"During", "DuringAll", "After", "AfterAll"} {
		testutil.Eventually(t, target, func() bool { return len(c.invocations(target)) == 20 })
	}
}
