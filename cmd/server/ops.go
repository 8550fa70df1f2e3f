package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Operator pages (/metrics, /debug/pprof/, /dashboard and its hub) are
// guarded by opsAccess on the public listener: they answer loopback clients
// and requests that carry the operator token, nobody else. With
// -metrics-addr they move to their own listener, which is not guarded (the
// operator chose who reaches it).
//
// /healthz and /readyz are public on every listener: load balancers and
// orchestrators probe them without credentials.

// minOpsToken is the shortest -ops-token accepted: a token is the only thing
// between the public and the operator pages.
const minOpsToken = 16

// opsAccess decides who may see the operator pages.
type opsAccess struct {
	token    [sha256.Size]byte // sha256 of the token, compared in constant time
	hasToken bool
	open     bool // every request is let in (the pages are on -metrics-addr)
}

func newOpsAccess(token string, open bool) (*opsAccess, error) {
	a := &opsAccess{open: open}
	if token != "" {
		if len(token) < minOpsToken {
			return nil, errors.New("-ops-token must be at least 16 characters")
		}
		a.token, a.hasToken = sha256.Sum256([]byte(token)), true
	}
	return a, nil
}

// check returns 0 when r may see an operator page, else the status to
// answer: 401 when a token is configured (and r's is missing or wrong),
// 403 when nothing r could send would let it in.
func (a *opsAccess) check(r *http.Request) int {
	if a.open || isLoopbackRequest(r) {
		return 0
	}
	if !a.hasToken {
		return http.StatusForbidden
	}
	if t := opsToken(r); t != "" {
		sum := sha256.Sum256([]byte(t))
		if subtle.ConstantTimeCompare(sum[:], a.token[:]) == 1 {
			return 0
		}
	}
	return http.StatusUnauthorized
}

// guard lets through only the requests check allows; the others get a bare
// 401 or 403 that says nothing about what is behind.
func (a *opsAccess) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch a.check(r) {
		case 0:
			next.ServeHTTP(w, r)
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Bearer realm="actorhub operator"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
		default:
			http.Error(w, "Forbidden", http.StatusForbidden)
		}
	})
}

// opsToken is the request's bearer token: the Authorization header, else
// the access_token query parameter (what SignalR's browser client sends on
// WebSocket and Server-Sent Events requests, which cannot carry headers).
func opsToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return r.URL.Query().Get("access_token")
}

// forwardedHeaders are set by proxies: a request that carries one came from
// somewhere else, whatever address it arrives from.
var forwardedHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-Ip", "X-Forwarded-Proto"}

// isLoopbackRequest reports whether r comes from this machine: its peer
// address is a loopback address and no proxy says it relays it for someone
// else (a reverse proxy on the same host connects from 127.0.0.1 too).
func isLoopbackRequest(r *http.Request) bool {
	if !isLoopbackAddr(r.RemoteAddr) {
		return false
	}
	for _, h := range forwardedHeaders {
		if _, ok := r.Header[h]; ok {
			return false
		}
	}
	return true
}

// isLoopbackAddr reports whether host:port names a loopback address
// (127.0.0.0/8, ::1, and IPv4 loopback mapped into IPv6).
func isLoopbackAddr(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return ip.Unmap().IsLoopback()
}

// readiness answers /readyz: ready unless the server is draining or its
// backplane cannot be reached. The backplane is asked at most once per
// readyCacheFor, whoever probes and however often.
type readiness struct {
	draining  atomic.Bool
	backplane func(context.Context) error // nil without a backplane

	mu      sync.Mutex
	checked time.Time // guarded by mu
	last    error     // guarded by mu
}

const (
	readyCacheFor = time.Second
	readyTimeout  = 2 * time.Second
)

// backplaneChecker is what a backplane offers to say whether it is
// connected (every engine of package backplane has it).
type backplaneChecker interface {
	Ready(ctx context.Context) error
}

var errDraining = errors.New("draining")

// check returns nil when ready, else why not.
func (rd *readiness) check(ctx context.Context) error {
	if rd.draining.Load() {
		return errDraining
	}
	if rd.backplane == nil {
		return nil
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if time.Since(rd.checked) < readyCacheFor {
		return rd.last
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := rd.backplane(ctx); err != nil {
		rd.last = errors.New("backplane unavailable")
	} else {
		rd.last = nil
	}
	rd.checked = time.Now()
	return rd.last
}

// mountHealth serves /healthz (the process answers) and /readyz (it should
// get traffic) on mux, to anyone.
func (rd *readiness) mountHealth(mux *http.ServeMux) {
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		noStore(w)
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		noStore(w)
		if err := rd.check(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
}
