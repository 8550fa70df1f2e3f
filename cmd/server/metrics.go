package main

import (
	"net/http"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/hub"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics exposes every hub's counters to Prometheus, read from the hubs'
// Stats snapshots at scrape time.
type metrics struct {
	reg  *prometheus.Registry
	hubs []namedHub
	bp   backplane.StatsReporter // nil: a single node
	kind string                  // bp's engine: redis, postgres, nats

	connections, open, groups, byTransport, byProtocol *prometheus.Desc
	messagesIn, messagesOut, bytesIn, bytesOut, closes *prometheus.Desc
	lastSend, lastRemote                               *prometheus.Desc

	bpUp, bpPublished, bpPublishErrors, bpReceived, bpErrors, bpReconnects, bpLost, bpQueued, bpLag *prometheus.Desc
}

type namedHub struct {
	name string
	hub  *hub.Hub
}

func newMetrics() *metrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("actorhub_"+name, help, append([]string{"hub"}, labels...), nil)
	}
	m := &metrics{
		reg:         prometheus.NewRegistry(),
		connections: d("connections", "Connections past their handshake."),
		open:        d("open_connections", "Connections held, handshake or not."),
		groups:      d("groups", "Groups held: those with members on this node, and the implicit ones of all connections and of each user."),
		byTransport: d("connections_by_transport", "Connections past their handshake, by transport.", "transport"),
		byProtocol:  d("connections_by_protocol", "Connections past their handshake, by hub protocol.", "protocol"),
		messagesIn:  d("messages_received_total", "Hub messages received from clients."),
		messagesOut: d("messages_sent_total", "Hub messages sent to clients."),
		bytesIn:     d("bytes_received_total", "Transport payload bytes received."),
		bytesOut:    d("bytes_sent_total", "Transport payload bytes sent."),
		closes:      d("closes_total", "Connections ended, by reason.", "reason"),
		lastSend:    d("last_send_timestamp_seconds", "When a write to a connection last returned (unix time; 0: never). After a broadcast, when this node wrote its last connection."),
		lastRemote:  d("last_remote_message_timestamp_seconds", "When a message from another node last arrived through the backplane to be delivered here (unix time; 0: never)."),
	}
	b := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("actorhub_backplane_"+name, help, []string{"backplane"}, nil)
	}
	m.bpUp = b("up", "1 while the backplane's server answers and publishes are accepted, else 0.")
	m.bpPublished = b("published_total", "Messages handed to the backplane's server.")
	m.bpPublishErrors = b("publish_errors_total", "Publishes that failed (refused while the server is unreachable, or failed after).")
	m.bpReceived = b("received_total", "Messages that reached this node through the backplane.")
	m.bpErrors = b("errors_total", "Failed operations with the backplane's server: lost connections, failed reads, publishes, subscription changes, presence operations.")
	m.bpReconnects = b("reconnects_total", "Connections to the backplane's server made again after a loss.")
	m.bpLost = b("lost_total", "Messages known lost on their way to this node (PostgreSQL: past the retention; NATS: this node fell behind).")
	m.bpQueued = b("queued", "Publishes waiting to be written to the backplane's server.")
	m.bpLag = b("lag_seconds", "How far behind this node's backplane delivery is, as last measured (PostgreSQL: insert to read; Redis and NATS: a probe's round trip through the server).")
	m.reg.MustRegister(m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) add(name string, h *hub.Hub) { m.hubs = append(m.hubs, namedHub{name, h}) }

// addBackplane exposes the backplane's Stats, labelled with its engine.
func (m *metrics) addBackplane(kind string, bp backplane.StatsReporter) { m.bp, m.kind = bp, kind }

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.connections, m.open, m.groups, m.byTransport, m.byProtocol, m.messagesIn, m.messagesOut, m.bytesIn, m.bytesOut, m.closes, m.lastSend, m.lastRemote,
		m.bpUp, m.bpPublished, m.bpPublishErrors, m.bpReceived, m.bpErrors, m.bpReconnects, m.bpLost, m.bpQueued, m.bpLag} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, h := range m.hubs {
		s := h.hub.Stats()
		g := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, h.name)
		}
		c := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), h.name)
		}
		g(m.connections, float64(s.Connections))
		g(m.open, float64(s.Open))
		g(m.groups, float64(s.Groups))
		c(m.messagesIn, s.MessagesIn)
		c(m.messagesOut, s.MessagesOut)
		c(m.bytesIn, s.BytesIn)
		c(m.bytesOut, s.BytesOut)
		g(m.lastSend, unixSeconds(s.LastSend))
		g(m.lastRemote, unixSeconds(s.LastRemote))
		for transport, n := range s.Transports {
			ch <- prometheus.MustNewConstMetric(m.byTransport, prometheus.GaugeValue, float64(n), h.name, transport)
		}
		for proto, n := range s.Protocols {
			ch <- prometheus.MustNewConstMetric(m.byProtocol, prometheus.GaugeValue, float64(n), h.name, proto)
		}
		for reason, n := range s.Closes {
			ch <- prometheus.MustNewConstMetric(m.closes, prometheus.CounterValue, float64(n), h.name, reason)
		}
	}
	if m.bp == nil {
		return
	}
	s := m.bp.Stats()
	g := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, m.kind)
	}
	c := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), m.kind)
	}
	up := 0.0
	if s.Up {
		up = 1
	}
	g(m.bpUp, up)
	c(m.bpPublished, s.Published)
	c(m.bpPublishErrors, s.PublishErrors)
	c(m.bpReceived, s.Received)
	c(m.bpErrors, s.Errors)
	c(m.bpReconnects, s.Reconnects)
	c(m.bpLost, s.Lost)
	g(m.bpQueued, float64(s.Queued))
	g(m.bpLag, s.Lag.Seconds())
}

// unixSeconds is t as unix seconds with its nanoseconds; 0 for the zero time.
func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
