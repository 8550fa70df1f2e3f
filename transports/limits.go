package transports

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Connection limits.
//
// A connection counts from the request that makes it, negotiate (or a
// WebSocket upgrade without negotiate), until its token is forgotten: its
// transport ended, or no transport took it within the hub's
// DisconnectTimeout. A request over a limit is refused before anything is
// made for it (no token, no connection, no upgrade):
//
//   - 503 Service Unavailable for the server-wide limits (LimiterConfig.
//     MaxConnections, Config.MaxPendingConnections), as ASP.NET Core's rate
//     limiting middleware answers by default (RateLimiterOptions.
//     RejectionStatusCode);
//   - 429 Too Many Requests for the per-address limits, with Retry-After
//     when waiting helps (the rate): the client itself is over its share,
//     and a load balancer that counts a node's 5xx answers against its
//     health must not take a healthy node out because one client misbehaves.
//
// Both have an empty body, as ASP.NET's, so the official clients report
// the status text: "Failed to complete negotiation with the server: Error:
// Service Unavailable: Status code '503'".
//
// The client address is the TCP peer's (http.Request.RemoteAddr), never a
// header: X-Forwarded-For and Forwarded are written by whoever sends the
// request, so trusting them would let any client pick the address it is
// counted under. Behind a proxy or load balancer every client shares the
// proxy's address: leave the per-address limits off there (they are off by
// default) and limit at the proxy. IPv6 addresses count by their /64
// prefix, the block one subscriber is usually given, so that a client
// cannot escape the limit by walking its own addresses. Requests whose peer
// is not an IP address (a Unix socket) count only toward MaxConnections.

// DefaultMaxPendingConnections is the default of
// Config.MaxPendingConnections: at 26,000 negotiates per second, the most
// one core makes, the bound is reached in under half a second and holds
// about 2.5 MB; an honest client takes its token up within one round trip,
// so even a reconnect storm of thousands of clients stays far below it.
const DefaultMaxPendingConnections = 10_000

// LimiterConfig configures a Limiter. Every limit is off when zero.
type LimiterConfig struct {
	// MaxConnections bounds the connections of every Handler sharing the
	// Limiter, together (cmd/server: every hub of the process). Over it,
	// negotiate and WebSocket upgrades without negotiate get 503. 0: no
	// limit but the process's file limit (Kestrel's MaxConcurrentConnections
	// is unlimited by default too).
	MaxConnections int
	// MaxConnectionsPerIP bounds the connections of one client address.
	// Over it: 429. 0: no limit.
	MaxConnectionsPerIP int
	// ConnectRatePerIP is how many new connections per second one client
	// address may open, sustained; ConnectBurstPerIP more may come at once.
	// Over it: 429 with Retry-After. 0: no limit.
	ConnectRatePerIP float64
	// ConnectBurstPerIP is how many connections one address may open at
	// once before ConnectRatePerIP paces it. 0: the rate rounded up (at
	// least 1).
	ConnectBurstPerIP int
}

// Limiter holds the connection counts that several Handlers share
// (Config.Limiter): in total and per client address. Its state is a count
// and, for each address with connections or a rate bucket still
// refilling, a small record; a connection itself holds a pointer to its
// address's record and nothing else. Safe for concurrent use; it runs no
// goroutine.
type Limiter struct {
	maxConns int
	maxPerIP int
	rate     float64 // tokens per second; 0: no rate limit
	burst    float64
	epoch    time.Time

	mu        sync.Mutex
	total     int                    // guarded by mu
	ips       map[netip.Addr]*ipSlot // guarded by mu
	nextSweep time.Duration          // guarded by mu

	refused [numReasons]atomic.Uint64
}

// ipSlot is what the Limiter holds for one client address.
type ipSlot struct {
	addr   netip.Addr
	conns  int           // connections held
	tokens float64       // the rate bucket, as of at
	at     time.Duration // since Limiter.epoch
}

// Reasons a connection is refused, as LimiterStats.Refused names them.
const (
	reasonMaxConnections = iota
	reasonPerIPConnections
	reasonPerIPRate
	reasonPending
	numReasons
)

var reasonNames = [numReasons]string{"max_connections", "per_ip_connections", "per_ip_rate", "pending"}

// NewLimiter makes a Limiter, or returns an error naming a field that
// cannot be taken.
func NewLimiter(cfg LimiterConfig) (*Limiter, error) {
	switch {
	case cfg.MaxConnections < 0:
		return nil, fmt.Errorf("transports: LimiterConfig.MaxConnections is negative (%d)", cfg.MaxConnections)
	case cfg.MaxConnectionsPerIP < 0:
		return nil, fmt.Errorf("transports: LimiterConfig.MaxConnectionsPerIP is negative (%d)", cfg.MaxConnectionsPerIP)
	case cfg.ConnectRatePerIP < 0 || math.IsNaN(cfg.ConnectRatePerIP) || math.IsInf(cfg.ConnectRatePerIP, 0):
		return nil, fmt.Errorf("transports: LimiterConfig.ConnectRatePerIP is not a rate (%v)", cfg.ConnectRatePerIP)
	case cfg.ConnectBurstPerIP < 0:
		return nil, fmt.Errorf("transports: LimiterConfig.ConnectBurstPerIP is negative (%d)", cfg.ConnectBurstPerIP)
	case cfg.ConnectBurstPerIP > 0 && cfg.ConnectRatePerIP == 0:
		return nil, errors.New("transports: LimiterConfig.ConnectBurstPerIP needs ConnectRatePerIP")
	}
	l := &Limiter{
		maxConns: cfg.MaxConnections, maxPerIP: cfg.MaxConnectionsPerIP,
		rate: cfg.ConnectRatePerIP, burst: float64(cfg.ConnectBurstPerIP),
		epoch: time.Now(), ips: make(map[netip.Addr]*ipSlot),
	}
	if l.rate > 0 && l.burst == 0 {
		l.burst = max(1, math.Ceil(l.rate))
	}
	return l, nil
}

// Config returns the limits in force, defaults filled in.
func (l *Limiter) Config() LimiterConfig {
	return LimiterConfig{MaxConnections: l.maxConns, MaxConnectionsPerIP: l.maxPerIP, ConnectRatePerIP: l.rate, ConnectBurstPerIP: int(l.burst)}
}

// LimiterStats is a snapshot of a Limiter.
type LimiterStats struct {
	// Connections is how many connections hold a place now.
	Connections int
	// Addresses is how many client addresses the Limiter keeps a record
	// of (those with connections, and those whose rate bucket refills).
	Addresses int
	// Refused counts refused connections by reason: max_connections,
	// per_ip_connections, per_ip_rate, pending (Config.MaxPendingConnections
	// of a Handler that shares the Limiter).
	Refused map[string]uint64
}

// Stats returns a snapshot of the counts.
func (l *Limiter) Stats() LimiterStats {
	l.mu.Lock()
	s := LimiterStats{Connections: l.total, Addresses: len(l.ips), Refused: make(map[string]uint64, numReasons)}
	l.mu.Unlock()
	for i := range l.refused {
		s.Refused[reasonNames[i]] = l.refused[i].Load()
	}
	return s
}

// refusal says why a connection is not admitted; the zero value admits it.
type refusal struct {
	reason     int // reasonMaxConnections, ..., when refused
	refused    bool
	retryAfter int // seconds, for Retry-After; 0: none
}

func refuse(reason int) refusal { return refusal{reason: reason, refused: true} }

// status is the HTTP status that answers the refusal.
func (r refusal) status() int {
	if r.reason == reasonPerIPConnections || r.reason == reasonPerIPRate {
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}

// count records a refusal (a nil Limiter records nothing).
func (l *Limiter) count(r refusal) {
	if l != nil && r.refused {
		l.refused[r.reason].Add(1)
	}
}

// acquire takes a place for a new connection from addr (the zero Addr: not
// an IP peer). It returns the address's record, which release gets back,
// or why the connection is refused. A nil Limiter admits everything.
func (l *Limiter) acquire(addr netip.Addr) (*ipSlot, refusal) {
	if l == nil {
		return nil, refusal{}
	}
	now := time.Since(l.epoch)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxConns > 0 && l.total >= l.maxConns {
		return nil, refuse(reasonMaxConnections)
	}
	var s *ipSlot
	if addr.IsValid() && (l.maxPerIP > 0 || l.rate > 0) {
		s = l.ips[addr]
		fresh := s == nil
		if fresh {
			s = &ipSlot{addr: addr, tokens: l.burst, at: now}
		}
		if l.maxPerIP > 0 && s.conns >= l.maxPerIP {
			return nil, refuse(reasonPerIPConnections)
		}
		if l.rate > 0 {
			l.refillLocked(s, now)
			if s.tokens < 1 {
				r := refuse(reasonPerIPRate)
				r.retryAfter = max(1, int(math.Ceil((1-s.tokens)/l.rate)))
				return nil, r
			}
			s.tokens--
		}
		s.conns++
		if fresh {
			l.ips[addr] = s
		}
	}
	l.total++
	if now >= l.nextSweep {
		l.sweepLocked(now)
	}
	return s, refusal{}
}

// release gives back the place that acquire gave, once per connection.
func (l *Limiter) release(s *ipSlot) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.total--
	if s != nil {
		s.conns--
		if s.conns == 0 && l.rate == 0 && l.ips[s.addr] == s {
			delete(l.ips, s.addr)
		}
	}
	l.mu.Unlock()
}

// refillLocked brings s's bucket up to now.
func (l *Limiter) refillLocked(s *ipSlot, now time.Duration) {
	s.tokens = min(l.burst, s.tokens+(now-s.at).Seconds()*l.rate)
	s.at = now
}

// sweepLocked forgets the addresses with no connection whose bucket is
// full again (they would start afresh anyway). It runs from acquire at most
// once a second, so that the records of addresses that have left are not
// kept for good, without a goroutine of its own.
func (l *Limiter) sweepLocked(now time.Duration) {
	l.nextSweep = now + time.Second
	for a, s := range l.ips {
		if s.conns > 0 {
			continue
		}
		if l.refillLocked(s, now); s.tokens >= l.burst {
			delete(l.ips, a)
		}
	}
}

// clientAddr is the address a request's connection counts under: its TCP
// peer's, an IPv6 address by its /64 prefix; the zero Addr when the peer is
// not an IP address.
func clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a := ap.Addr().Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		a = p.Addr()
	}
	return a
}

// answerRefusal answers a refused connection: 503 or 429 with an empty
// body, and Retry-After when waiting helps.
func (h *Handler) answerRefusal(w http.ResponseWriter, r *http.Request, ref refusal) {
	if ref.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ref.retryAfter))
	}
	h.log.Debug("connection refused", "reason", reasonNames[ref.reason], "remote", r.RemoteAddr, "path", r.URL.Path)
	plainText(w, ref.status(), "")
}
