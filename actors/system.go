package actors

import (
	"context"
	"log/slog"
	"sync"

	"github.com/actorhub/actorhub/netpoll"
	"github.com/asynkron/protoactor-go/actor"
)

// System is the actor runtime that one or several hubs (engines) run on: a
// protoactor ActorSystem that logs through the caller's slog logger, the
// worker pool that runs its mailboxes, and the poller (epoll) that serves
// its WebSockets. It never registers protoactor's Prometheus provider and
// starts no listener.
type System struct {
	actors    *actor.ActorSystem
	pool      *workerPool
	poller    *netpoll.Poller
	log       *slog.Logger
	closeOnce sync.Once
}

// SystemConfig configures a System. The zero value works.
type SystemConfig struct {
	// Logger receives the runtime's messages; nil discards them.
	Logger *slog.Logger
}

// NewSystem starts an actor runtime.
func NewSystem(cfg SystemConfig) (*System, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Each WebSocket brings its own message limit (socket.MaxMessageSize):
	// the poller's own is never used.
	poller, err := netpoll.New(netpoll.Config{Logger: log})
	if err != nil {
		return nil, err
	}
	// protoactor logs every dead letter and lifecycle event at Info; keep only
	// its warnings and errors.
	quiet := slog.New(levelFilter{Handler: log.Handler(), min: slog.LevelWarn}).With("component", "protoactor")
	as := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	pool := newWorkerPool(poolConfig{Logger: log, AfterBulk: poller.PollNow})
	return &System{actors: as, pool: pool, poller: poller, log: log}, nil
}

// coreProps builds the properties of the hub, group and shard actors. They
// are few, and connection actors wait on them (a hub method that joins a
// group), so they run on their own goroutine per turn and never queue
// behind connection actors on the pool.
func (s *System) coreProps(producer actor.Producer) *actor.Props {
	return actor.PropsFromProducer(producer,
		actor.WithDispatcher(actor.NewDefaultDispatcher(1024)),
		actor.WithMailbox(newBatchingMailbox()),
	)
}

func (s *System) send(pid *actor.PID, msg any) { s.actors.Root.Send(pid, msg) }

func (s *System) stop(pid *actor.PID) { s.actors.Root.Stop(pid) }

// Close stops the runtime: it cuts the WebSockets still open (their
// connections hear of it as a drop), then stops the actors and the workers.
// Engines should be shut down first (Engine.Shutdown ends their
// connections gracefully). Later calls do nothing.
func (s *System) Close() {
	s.closeOnce.Do(func() {
		_ = s.poller.Close()
		s.actors.Shutdown()
		s.pool.Close()
	})
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFilter) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFilter{Handler: f.Handler.WithAttrs(as), min: f.min}
}

func (f levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{Handler: f.Handler.WithGroup(name), min: f.min}
}
