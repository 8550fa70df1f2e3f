package bench

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Loader is a set of receiving connections to one hub, held in this
// process (a Pool) or in an agent process that serves one over its stdin
// and stdout.
type Loader interface {
	// Connect opens n connections to the hub at url ("": the loader's
	// own URL); with groupSize > 0, connection i joins group
	// GroupName((offset+i)/groupSize).
	Connect(ctx context.Context, url string, n, groupSize, offset int) error
	// Stats is a snapshot; CPUSeconds is the agent's own (0 in process).
	Stats(withHist bool) (Stats, error)
	// Reset zeroes the delivery counters and histograms.
	Reset() error
	Close() error
}

// GroupName is the name of group k in the scenarios.
func GroupName(k int) string { return "g" + strconv.Itoa(k) }

// LoaderConfig is what a loader needs to make its pool.
type LoaderConfig struct {
	URL         string   `json:"url"`
	Protocol    string   `json:"protocol"`
	SourceAddrs []string `json:"source_addrs,omitempty"`
	Loops       int      `json:"loops,omitempty"`
	Dialers     int      `json:"dialers,omitempty"`
	// PingInterval is Config.PingInterval as a duration ("-1s": never);
	// "": the default.
	PingInterval string `json:"ping_interval,omitempty"`
}

func (lc LoaderConfig) poolConfig() (Config, error) {
	p, err := ParseProtocol(lc.Protocol)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{URL: lc.URL, Protocol: p, Loops: lc.Loops, Dialers: lc.Dialers}
	if lc.PingInterval != "" {
		if cfg.PingInterval, err = time.ParseDuration(lc.PingInterval); err != nil {
			return cfg, fmt.Errorf("bench: ping interval: %w", err)
		}
		if cfg.PingInterval == 0 {
			cfg.PingInterval = -1
		}
	}
	for _, s := range lc.SourceAddrs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return cfg, fmt.Errorf("bench: source address %q: %w", s, err)
		}
		cfg.SourceAddrs = append(cfg.SourceAddrs, a)
	}
	return cfg, nil
}

// PoolLoader is a Loader in this process: one Pool per hub URL it was
// asked to connect to.
type PoolLoader struct {
	lc LoaderConfig

	mu    sync.Mutex
	pools map[string]*Pool // by URL; guarded by mu
	list  []*Pool          // in the order made; guarded by mu
}

// NewPoolLoader makes a Loader in this process; it makes the pool of
// lc.URL at once (so a bad configuration fails here).
func NewPoolLoader(lc LoaderConfig) (*PoolLoader, error) {
	l := &PoolLoader{lc: lc, pools: map[string]*Pool{}}
	if _, err := l.pool(""); err != nil {
		return nil, err
	}
	return l, nil
}

// PoolLoaderOf makes a Loader of one pool already made.
func PoolLoaderOf(p *Pool) *PoolLoader {
	return &PoolLoader{lc: LoaderConfig{URL: p.cfg.URL}, pools: map[string]*Pool{p.cfg.URL: p}, list: []*Pool{p}}
}

// pool is the pool of url ("": the loader's URL), made on first use.
func (l *PoolLoader) pool(url string) (*Pool, error) {
	if url == "" {
		url = l.lc.URL
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.pools[url]; p != nil {
		return p, nil
	}
	lc := l.lc
	lc.URL = url
	cfg, err := lc.poolConfig()
	if err != nil {
		return nil, err
	}
	p, err := NewPool(cfg)
	if err != nil {
		return nil, err
	}
	l.pools[url] = p
	l.list = append(l.list, p)
	return p, nil
}

func (l *PoolLoader) all() []*Pool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Pool(nil), l.list...)
}

// Connect implements Loader.
func (l *PoolLoader) Connect(ctx context.Context, url string, n, groupSize, offset int) error {
	p, err := l.pool(url)
	if err != nil {
		return err
	}
	var group func(int) string
	if groupSize > 0 {
		group = func(i int) string { return GroupName((offset + i) / groupSize) }
	}
	return p.Connect(ctx, n, group)
}

// Stats implements Loader.
func (l *PoolLoader) Stats(withHist bool) (Stats, error) {
	var s Stats
	for _, p := range l.all() {
		s.Add(p.Stats(withHist))
	}
	return s, nil
}

// Reset implements Loader.
func (l *PoolLoader) Reset() error {
	for _, p := range l.all() {
		p.ResetCounters()
	}
	return nil
}

// Close implements Loader.
func (l *PoolLoader) Close() error {
	var wg sync.WaitGroup
	for _, p := range l.all() {
		wg.Go(func() { _ = p.Close() })
	}
	wg.Wait()
	return nil
}

var _ Loader = (*PoolLoader)(nil)
