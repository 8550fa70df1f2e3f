package backplane_test

import (
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane"
)

// A handler may publish, even while a flood fills its node's queue.
func TestMemoryPublishFromHandler(t *testing.T) {
	m := backplane.NewMemory()
	a, b := m.Node(), m.Node()
	defer a.Close()
	defer b.Close()
	<-a.Subscribe("ch", func(string, []byte) { _ = a.Publish("return", []byte("r"), nil) })
	done := make(chan struct{})
	go func() {
		for range 5000 {
			_ = b.Publish("ch", []byte("x"), nil)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publishing from a handler deadlocked the broker")
	}
}
