package main

import (
	"net/http"

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

	connections, open, byTransport, byProtocol         *prometheus.Desc
	messagesIn, messagesOut, bytesIn, bytesOut, closes *prometheus.Desc
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
		byTransport: d("connections_by_transport", "Connections past their handshake, by transport.", "transport"),
		byProtocol:  d("connections_by_protocol", "Connections past their handshake, by hub protocol.", "protocol"),
		messagesIn:  d("messages_received_total", "Hub messages received from clients."),
		messagesOut: d("messages_sent_total", "Hub messages sent to clients."),
		bytesIn:     d("bytes_received_total", "Transport payload bytes received."),
		bytesOut:    d("bytes_sent_total", "Transport payload bytes sent."),
		closes:      d("closes_total", "Connections ended, by reason.", "reason"),
	}
	m.reg.MustRegister(m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) add(name string, h *hub.Hub) { m.hubs = append(m.hubs, namedHub{name, h}) }

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.connections, m.open, m.byTransport, m.byProtocol, m.messagesIn, m.messagesOut, m.bytesIn, m.bytesOut, m.closes} {
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
		c(m.messagesIn, s.MessagesIn)
		c(m.messagesOut, s.MessagesOut)
		c(m.bytesIn, s.BytesIn)
		c(m.bytesOut, s.BytesOut)
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
}
