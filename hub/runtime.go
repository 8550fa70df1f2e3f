package hub

import (
	"log/slog"

	"github.com/actorhub/actorhub/actors"
)

// Runtime is what hubs run on: the actors of their connections and groups,
// the worker goroutines that run those actors' turns (hub code among them),
// and the poller (epoll) that reads and writes their WebSockets. Several
// hubs may share one (Config.Runtime), as cmd/server's hubs do: their
// connections then share one set of workers and one epoll instance.
//
// Whoever makes a Runtime closes it, after shutting its hubs down. A hub
// made without Config.Runtime makes its own and closes it in Shutdown.
type Runtime struct {
	sys *actors.System
}

// RuntimeConfig configures a Runtime. The zero value works.
type RuntimeConfig struct {
	// Logger receives the runtime's warnings and errors; nil discards them.
	Logger *slog.Logger
}

// NewRuntime starts a runtime: its worker pool (GOMAXPROCS goroutines,
// more while hub code blocks) and its poller (an event loop and GOMAXPROCS
// workers). An error means the poller could not start (epoll).
func NewRuntime(cfg RuntimeConfig) (*Runtime, error) {
	sys, err := actors.NewSystem(actors.SystemConfig{Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	return &Runtime{sys: sys}, nil
}

// Close stops the runtime: WebSockets still open are cut (shut the hubs
// down first to close them gracefully), then its goroutines stop. Later
// calls do nothing.
func (r *Runtime) Close() { r.sys.Close() }
