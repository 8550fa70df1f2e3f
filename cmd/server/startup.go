package main

import (
	"log/slog"
	"strings"
	"syscall"
	"time"

	"github.com/actorhub/actorhub/transports"
)

// mountedPath is one handler of a mounted hub: its path and the settings
// it serves with.
type mountedPath struct {
	path string
	cfg  transports.Config
}

// logStartup says at info level what is running: every hub and endpoint
// with its path, transports and protocols; the limits and timeouts in
// force; the backplane (its kind, "" for none) and node; where the
// operator pages are.
func logStartup(log *slog.Logger, o *options, hubs []*mounted, lim *transports.Limiter, backplane, addr, metricsAddr string) {
	for _, m := range hubs {
		protocols := "raw" // an endpoint of raw connections: no hub protocol
		var maxTransport int
		if m.hub != nil {
			protocols = strings.Join(m.hub.Protocols(), ",")
			maxTransport = m.hub.TransportOptions().MaxTransportMessageSize
		} else {
			maxTransport = m.endpoint.TransportOptions().MaxTransportMessageSize
		}
		for _, p := range m.paths {
			auth := "none"
			switch {
			case p.cfg.RequireAuthentication:
				auth = "bearer, required"
			case p.cfg.Authenticator != nil:
				auth = "bearer"
			}
			log.Info("hub", "name", m.name, "path", p.path, "transports", p.cfg.Transports.String(),
				"protocols", protocols, "auth", auth, "max_transport_message_bytes", maxTransport)
		}
	}

	lc := lim.Config()
	var files syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &files)
	burst := any("off")
	if lc.ConnectRatePerIP > 0 {
		burst = lc.ConnectBurstPerIP
	}
	log.Info("limits",
		"max_message_bytes", orNone(o.maxMessageSize),
		"max_buffered_bytes", o.maxBuffered,
		"max_header_bytes", o.maxHeaderBytes,
		"max_connections", orNone(lc.MaxConnections),
		"file_limit", files.Cur,
		"max_pending_connections_per_hub", orNone(o.maxPending),
		"max_connections_per_ip", orOff(lc.MaxConnectionsPerIP),
		"connect_rate_per_ip", orOff(lc.ConnectRatePerIP),
		"connect_burst_per_ip", burst,
		"post_body_min_rate", "240 B/s after 5s",
		"stateful_reconnect", o.statefulReconnect,
		"allowed_origins", originsText(o.allowedOrigins),
	)
	log.Info("timeouts",
		"keepalive", o.keepAlive,
		"client_timeout", o.clientTimeout,
		"handshake_timeout", o.handshakeTimeout,
		"disconnect_timeout", o.disconnectTimeout,
		"longpoll_timeout", o.longPollTimeout,
		"http_idle_timeout", orNoneDuration(o.httpIdleTimeout),
		"http_header_timeout", orNoneDuration(o.httpHeaderTimeout),
		"http_read_timeout", orNoneDuration(o.httpReadTimeout),
		"http_write_timeout", "none (10s per transport write)",
		"shutdown_timeout", o.shutdownTimeout,
	)
	if backplane != "" {
		log.Info("backplane", "kind", backplane, "node", o.nodeID, "prefix", o.backplanePrefix)
	} else {
		log.Info("backplane", "kind", "none (one node)")
	}
	ops, who := "http://"+addr, "loopback clients"
	if o.opsToken != "" {
		who += " and -ops-token holders"
	}
	if metricsAddr != "" {
		ops, who = "http://"+metricsAddr, "every client of -metrics-addr"
	}
	pages := []any{"metrics", ops + "/metrics"}
	if o.pprof {
		pages = append(pages, "pprof", ops+"/debug/pprof/")
	}
	if o.dashboard {
		pages = append(pages, "dashboard", ops+"/dashboard")
	}
	log.Info("operator pages", append(pages, "open_to", who)...)
	health := []any{"healthz", "http://" + addr + "/healthz", "readyz", "http://" + addr + "/readyz"}
	if metricsAddr != "" {
		health = append(health, "also_on", "http://"+metricsAddr)
	}
	log.Info("health endpoints", append(health, "open_to", "everyone")...)
	log.Info("listening", "addr", addr)
}

// orNone is n, or "none" for 0 (no limit).
func orNone[T int | float64](n T) any {
	if n == 0 {
		return "none"
	}
	return n
}

// orOff is n, or "off" for 0 (a limit that is off by default).
func orOff[T int | float64](n T) any {
	if n == 0 {
		return "off"
	}
	return n
}

func orNoneDuration(d time.Duration) any {
	if d <= 0 {
		return "none"
	}
	return d
}

func originsText(origins []string) string {
	if len(origins) == 0 {
		return "own origin only"
	}
	return "own origin, " + strings.Join(origins, ",")
}
