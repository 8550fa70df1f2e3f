package testutil

import (
	"testing"

	"go.uber.org/goleak"
)

// LeakOptions are the goroutines a leak check forgives, each for a stated
// reason. Every goroutine of this module has an owner that waits for it,
// so none of ours is listed.
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		// protoactor-go's dead-letter throttle (actor/throttler.go): on the
		// first dead letter of a period it starts a goroutine that sleeps
		// DeadLetterThrottleInterval (1 s) and returns. protoactor owns it
		// and nothing can stop it; it ends by itself.
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
		// go-redis' dial probe (internal/pool, ConnPool.tryDial): after a
		// run of failed dials to a server (a Redis Cluster master that
		// died) it starts a goroutine that redials every second and
		// returns at its next try once the pool is closed. go-redis owns
		// it; Close cannot wait for it; it ends by itself within 1 s.
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
	}
}

// VerifyNoLeaks runs a package's tests and then fails the run when a
// goroutine outlives them. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }
func VerifyNoLeaks(m *testing.M) {
	goleak.VerifyTestMain(m, LeakOptions()...)
}
