package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// Config configures a Pool. The zero value of every field but URL works.
type Config struct {
	// URL is the hub's URL, e.g. "http://127.0.0.1:5000/hubs/conformance".
	URL string
	// Protocol is the hub protocol of every connection; default JSON.
	Protocol Protocol
	// SourceAddrs are the local addresses connections are spread over,
	// round robin. Default: 127.0.0.2 to 127.0.0.9.
	SourceAddrs []netip.Addr
	// Loops is the number of epoll loops (goroutines) that read every
	// connection; default GOMAXPROCS/2, at least 1 (fewer loops wake less
	// often and find more connections ready per wake-up).
	Loops int
	// Dialers is how many connections are set up at once; default 32.
	Dialers int
	// SetupTimeout bounds one connection's set-up (TCP connect, negotiate,
	// upgrade, handshake, join); default 30 s.
	SetupTimeout time.Duration
	// WriteTimeout bounds one write once the socket is full; default 10 s.
	WriteTimeout time.Duration
	// PingInterval is how often every connection sends a SignalR Ping, as
	// the official clients do; default 15 s; negative: never.
	PingInterval time.Duration
	// OnCompletion, if set, is called on a loop goroutine for every
	// Completion of an invocation made with InvokeTimed.
	OnCompletion func(c *Conn, failed bool)
}

// Pool holds client connections to one hub. A fixed set of loop
// goroutines reads all of them through epoll; no goroutine belongs to a
// connection. Close stops the loops and closes every connection.
type Pool struct {
	cfg  Config
	host string // host:port
	path string // the hub's path
	dst  netip.AddrPort

	loops []*loop
	byFD  []atomic.Pointer[Conn] // indexed by fd; fds stay below RLIMIT_NOFILE

	mu    sync.Mutex
	conns []*Conn // guarded by mu
	err   error   // the first connection error; guarded by mu

	up, dropped, setupFailed atomic.Int64
	nextSrc                  atomic.Uint64

	closed atomic.Bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

// loop is one epoll set and the goroutine that reads it. Its counters are
// written by that goroutine (and, for connections in set-up, by dialers).
type loop struct {
	epfd int
	buf  []byte

	delivered, completions, failures atomic.Uint64
	latency, rtt                     liveHist
}

// ErrClosed is returned by a Pool or Conn used after Close.
var ErrClosed = errors.New("bench: closed")

// NewPool starts the loops of a pool; it opens no connection.
func NewPool(cfg Config) (*Pool, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "http" {
		return nil, fmt.Errorf("bench: Config.URL %q: want http://host:port/path", cfg.URL)
	}
	dst, err := netip.ParseAddrPort(u.Host)
	if err != nil || !dst.Addr().Is4() {
		return nil, fmt.Errorf("bench: Config.URL %q: want an IPv4 address and port", cfg.URL)
	}
	if len(cfg.SourceAddrs) == 0 {
		for i := 2; i <= 9; i++ {
			cfg.SourceAddrs = append(cfg.SourceAddrs, netip.AddrFrom4([4]byte{127, 0, 0, byte(i)}))
		}
	}
	for _, a := range cfg.SourceAddrs {
		if !a.Is4() {
			return nil, fmt.Errorf("bench: Config.SourceAddrs: %v is not IPv4", a)
		}
	}
	if cfg.Loops <= 0 {
		cfg.Loops = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if cfg.Dialers <= 0 {
		cfg.Dialers = 32
	}
	if cfg.SetupTimeout <= 0 {
		cfg.SetupTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 15 * time.Second
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return nil, err
	}
	p := &Pool{
		cfg: cfg, host: u.Host, path: u.EscapedPath(), dst: dst,
		byFD: make([]atomic.Pointer[Conn], lim.Cur+64),
		stop: make(chan struct{}),
	}
	for range cfg.Loops {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("bench: epoll_create: %w", err)
		}
		l := &loop{epfd: epfd, buf: make([]byte, 64<<10)}
		p.loops = append(p.loops, l)
	}
	for _, l := range p.loops {
		p.wg.Go(func() { p.run(l) })
	}
	if cfg.PingInterval > 0 {
		p.wg.Go(p.pinger)
	}
	return p, nil
}

// Protocol is the pool's hub protocol.
func (p *Pool) Protocol() Protocol { return p.cfg.Protocol }

// Connect opens n more connections, Config.Dialers at a time. When group
// is not nil, connection i (counted from 0 within this call) joins group(i)
// before it counts as up. It stops at the first failure and returns it.
func (p *Pool) Connect(ctx context.Context, n int, group func(i int) string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range min(p.cfg.Dialers, n) {
		wg.Go(func() {
			for ctx.Err() == nil && !p.closed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				g := ""
				if group != nil {
					g = group(i)
				}
				if _, err := p.dial(g); err != nil {
					p.setupFailed.Add(1)
					errOnce.Do(func() { firstErr = err })
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if p.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// dial sets one connection up and hands it to a loop.
func (p *Pool) dial(group string) (*Conn, error) {
	k := p.nextSrc.Add(1) - 1
	src := netip.AddrPortFrom(p.cfg.SourceAddrs[k%uint64(len(p.cfg.SourceAddrs))], 0)
	deadline := time.Now().Add(p.cfg.SetupTimeout)
	s, err := dialRaw(src, p.dst, deadline)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(s.fd)
		}
	}()
	br := bufio.NewReaderSize(s, 4096)
	token, reuse, err := negotiate(s, br, p.host, p.path)
	if err != nil {
		return nil, err
	}
	if !reuse {
		unix.Close(s.fd)
		if s, err = dialRaw(src, p.dst, deadline); err != nil {
			ok = true // already closed
			return nil, err
		}
		br.Reset(s)
	}
	if err := upgrade(s, br, p.host, p.path, token); err != nil {
		return nil, err
	}
	c := &Conn{pool: p, fd: s.fd, loop: p.loops[k%uint64(len(p.loops))]}
	// Until the conn is registered, this goroutine alone reads it.
	if _, err := writeFD(s.fd, appendClientFrame(nil, ws.OpText, handshakeRequest(p.cfg.Protocol), maskKey()), deadline); err != nil {
		return nil, fmt.Errorf("bench: handshake: %w", err)
	}
	if group != "" {
		if err := c.write(appendInvocation(nil, p.cfg.Protocol, joinID, "JoinGroup", group), deadline); err != nil {
			return nil, fmt.Errorf("bench: JoinGroup: %w", err)
		}
	}
	buf := make([]byte, 4096)
	want := stateReady
	if group != "" {
		want = stateJoined
	}
	for c.state < want {
		if c.err != nil {
			return nil, c.err
		}
		m, err := br.Read(buf)
		if err != nil {
			return nil, fmt.Errorf("bench: handshake: %w", err)
		}
		c.now = time.Now()
		if err := c.feed(buf[:m]); err != nil {
			return nil, err
		}
	}
	if c.err != nil {
		return nil, c.err
	}
	for br.Buffered() > 0 { // bytes read past the reply go to the frame reader
		m, _ := br.Read(buf[:min(len(buf), br.Buffered())])
		if err := c.feed(buf[:m]); err != nil {
			return nil, err
		}
	}
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	p.conns = append(p.conns, c)
	c.index = len(p.conns) - 1
	p.mu.Unlock()
	p.byFD[c.fd].Store(c)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.fd)}
	if err := unix.EpollCtl(c.loop.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		p.byFD[c.fd].Store(nil)
		return nil, fmt.Errorf("bench: epoll_ctl: %w", err)
	}
	ok = true
	p.up.Add(1)
	return c, nil
}

// run is a loop goroutine: it reads every connection of its epoll set.
func (p *Pool) run(l *loop) {
	events := make([]unix.EpollEvent, 256)
	for !p.closed.Load() {
		n, err := unix.EpollWait(l.epfd, events, 100)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			p.fail(fmt.Errorf("bench: epoll_wait: %w", err))
			return
		}
		for _, ev := range events[:n] {
			if c := p.byFD[ev.Fd].Load(); c != nil {
				p.serve(l, c)
			}
		}
	}
}

// serve reads what a readable connection has.
func (p *Pool) serve(l *loop, c *Conn) {
	for range 4 { // then let the other connections have a turn
		n, err := unix.Read(c.fd, l.buf)
		switch {
		case n > 0:
			c.now = time.Now()
			if err := c.feed(l.buf[:n]); err != nil {
				c.drop(err)
				return
			}
			if c.err != nil {
				c.drop(c.err)
				return
			}
			if n < len(l.buf) {
				return
			}
		case n == 0 && err == nil:
			c.drop(errors.New("bench: the server closed the connection"))
			return
		case errors.Is(err, unix.EAGAIN):
			return
		case errors.Is(err, unix.EINTR):
		default:
			c.drop(fmt.Errorf("bench: read: %w", err))
			return
		}
	}
}

// pinger sends every connection a Ping each PingInterval.
func (p *Pool) pinger() {
	t := time.NewTicker(p.cfg.PingInterval)
	defer t.Stop()
	ping := appendPing(nil, p.cfg.Protocol)
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		for _, c := range p.Conns() {
			if p.closed.Load() {
				return
			}
			_ = c.write(ping, time.Now().Add(p.cfg.WriteTimeout))
		}
	}
}

func (p *Pool) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
}

// Conns is a snapshot of the pool's connections, dropped ones included.
func (p *Pool) Conns() []*Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Conn(nil), p.conns...)
}

// Stats is a snapshot of what a pool (or several, added) saw.
type Stats struct {
	Up          int64   `json:"up"`           // connections set up and not dropped
	Dropped     int64   `json:"dropped"`      // connections lost after set-up
	SetupFailed int64   `json:"setup_failed"` // connections that failed set-up
	Delivered   uint64  `json:"delivered"`    // Invocations received from the server
	Completions uint64  `json:"completions"`  // Completions of timed invocations
	Failures    uint64  `json:"failures"`     // Completions that carried an error
	Latency     Hist    `json:"latency"`      // send-to-receive time of timestamped deliveries
	RTT         Hist    `json:"rtt"`          // round trip of timed invocations
	CPUSeconds  float64 `json:"cpu_s"`        // user+system CPU of the process(es)
	Error       string  `json:"error,omitempty"`
}

// Add adds o's counts into s.
func (s *Stats) Add(o Stats) {
	s.Up += o.Up
	s.Dropped += o.Dropped
	s.SetupFailed += o.SetupFailed
	s.Delivered += o.Delivered
	s.Completions += o.Completions
	s.Failures += o.Failures
	s.Latency.Add(o.Latency)
	s.RTT.Add(o.RTT)
	s.CPUSeconds += o.CPUSeconds
	if s.Error == "" {
		s.Error = o.Error
	}
}

// Stats is a snapshot of the pool's counters. The histograms are left out
// when withHist is false (cheap progress reports).
func (p *Pool) Stats(withHist bool) Stats {
	s := Stats{Up: p.up.Load() - p.dropped.Load(), Dropped: p.dropped.Load(), SetupFailed: p.setupFailed.Load()}
	for _, l := range p.loops {
		s.Delivered += l.delivered.Load()
		s.Completions += l.completions.Load()
		s.Failures += l.failures.Load()
		if withHist {
			l.latency.addTo(&s.Latency)
			l.rtt.addTo(&s.RTT)
		}
	}
	p.mu.Lock()
	if p.err != nil {
		s.Error = p.err.Error()
	}
	p.mu.Unlock()
	return s
}

// ResetCounters zeroes the delivery and completion counters and the
// histograms (not the connection counts), between phases of a scenario.
func (p *Pool) ResetCounters() {
	for _, l := range p.loops {
		l.delivered.Store(0)
		l.completions.Store(0)
		l.failures.Store(0)
		l.latency.reset()
		l.rtt.reset()
	}
}

// Close stops the loops and closes every connection.
func (p *Pool) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	close(p.stop)
	p.wg.Wait()
	p.mu.Lock()
	conns := p.conns
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	for _, l := range p.loops {
		unix.Close(l.epfd)
	}
	return nil
}
