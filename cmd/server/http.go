package main

import (
	"net/http"
	"time"

	"github.com/actorhub/actorhub/transports"
	"github.com/prometheus/client_golang/prometheus"
)

// The HTTP server settings of both listeners (-addr and -metrics-addr),
// the flags' defaults.
const (
	// defaultHTTPIdleTimeout is Kestrel's KeepAliveTimeout: a keep-alive
	// connection that sends no new request for this long is closed.
	defaultHTTPIdleTimeout = 130 * time.Second
	// defaultHTTPHeaderTimeout bounds reading a request's line and headers
	// (Kestrel's RequestHeadersTimeout is 30 s; a client that needs more
	// than 10 s for a few hundred bytes is holding a socket, not sending).
	defaultHTTPHeaderTimeout = 10 * time.Second
	// defaultHTTPReadTimeout bounds reading a whole request, body included
	// (Kestrel has no such total; its MinRequestBodyDataRate, 240 bytes/s,
	// is what the transports apply to POST bodies). net/http lifts it once a
	// request's body is read, so SSE streams, long polls and upgraded
	// WebSockets are not cut by it.
	defaultHTTPReadTimeout = 30 * time.Second
	// defaultMaxHeaderBytes bounds a request's line and headers together:
	// Kestrel's MaxRequestLineSize (8 KiB) plus MaxRequestHeadersTotalSize
	// (32 KiB). Over it: 431.
	defaultMaxHeaderBytes = 40 << 10
)

// No WriteTimeout is set on either listener: SSE streams, long polls and
// pprof's profiles and traces write for longer than any answer should take,
// and the transports give each of their writes its own deadline (10 s,
// ASP.NET's TransportSendTimeout). Other answers are small and end up in
// the socket's buffer at once.

// httpServer is the http.Server of a listener, with the -http-* settings.
// A zero or negative duration turns that timeout off.
func (o *options) httpServer(h http.Handler) *http.Server {
	off := func(d time.Duration) time.Duration {
		if d <= 0 {
			return -1 // net/http: none (zero would fall back to ReadTimeout)
		}
		return d
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: off(o.httpHeaderTimeout),
		ReadTimeout:       off(o.httpReadTimeout),
		IdleTimeout:       off(o.httpIdleTimeout),
		MaxHeaderBytes:    o.maxHeaderBytes,
	}
}

// limiterConfig is the Limiter the flags describe, shared by every hub.
func (o *options) limiterConfig() transports.LimiterConfig {
	return transports.LimiterConfig{
		MaxConnections:      o.maxConnections,
		MaxConnectionsPerIP: o.maxConnectionsPerIP,
		ConnectRatePerIP:    o.connectRatePerIP,
		ConnectBurstPerIP:   o.connectBurstPerIP,
	}
}

// pendingLimit is -max-pending-connections as transports.Config takes it:
// the flag's 0 (no limit) is the Config's -1 (its 0 is the default).
func (o *options) pendingLimit() int {
	if o.maxPending == 0 {
		return -1
	}
	return o.maxPending
}

// limiterCollector exposes a Limiter's counts to Prometheus.
type limiterCollector struct {
	lim              *transports.Limiter
	connections      *prometheus.Desc
	refused          *prometheus.Desc
	trackedAddresses *prometheus.Desc
}

func newLimiterCollector(lim *transports.Limiter) *limiterCollector {
	return &limiterCollector{
		lim:              lim,
		connections:      prometheus.NewDesc("actorhub_limited_connections", "Connections counted against -max-connections (negotiated or open), every hub together.", nil, nil),
		refused:          prometheus.NewDesc("actorhub_connections_refused_total", "Connections refused by a limit, by reason: max_connections, per_ip_connections, per_ip_rate, pending.", []string{"reason"}, nil),
		trackedAddresses: prometheus.NewDesc("actorhub_limited_addresses", "Client addresses the per-address limits keep a record of.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *limiterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.connections
	ch <- c.refused
	ch <- c.trackedAddresses
}

// Collect implements prometheus.Collector.
func (c *limiterCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.lim.Stats()
	ch <- prometheus.MustNewConstMetric(c.connections, prometheus.GaugeValue, float64(s.Connections))
	ch <- prometheus.MustNewConstMetric(c.trackedAddresses, prometheus.GaugeValue, float64(s.Addresses))
	for reason, n := range s.Refused {
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(n), reason)
	}
}
