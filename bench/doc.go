// Package bench will hold the load generator library: an epoll-driven
// SignalR client side (no goroutine per client connection), scenarios and
// reports, driven by cmd/bench. It talks to servers only over sockets.
//
// The whole-system harness is the subject of its own issue; until it lands,
// the figures in BENCHMARKS.md come from the Go benchmarks beside the hot
// code (hub/protocol, netpoll, actors).
package bench
