package bench

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
)

// Loader is a set of receiving connections to one hub, held in this
// process (a Pool) or in an agent process that serves one over its stdin
// and stdout.
type Loader interface {
	// Connect opens n connections; with groupSize > 0, connection i joins
	// group GroupName((offset+i)/groupSize).
	Connect(ctx context.Context, n, groupSize, offset int) error
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
	URL          string   `json:"url"`
	Protocol     string   `json:"protocol"`
	SourceAddrs  []string `json:"source_addrs,omitempty"`
	Loops        int      `json:"loops,omitempty"`
	Dialers      int      `json:"dialers,omitempty"`
	PingInterval string   `json:"ping_interval,omitempty"`
}

func (lc LoaderConfig) poolConfig() (Config, error) {
	p, err := ParseProtocol(lc.Protocol)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{URL: lc.URL, Protocol: p, Loops: lc.Loops, Dialers: lc.Dialers}
	for _, s := range lc.SourceAddrs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return cfg, fmt.Errorf("bench: source address %q: %w", s, err)
		}
		cfg.SourceAddrs = append(cfg.SourceAddrs, a)
	}
	return cfg, nil
}

// PoolLoader is a Loader in this process.
type PoolLoader struct{ Pool *Pool }

// NewPoolLoader makes a Loader in this process.
func NewPoolLoader(lc LoaderConfig) (*PoolLoader, error) {
	cfg, err := lc.poolConfig()
	if err != nil {
		return nil, err
	}
	p, err := NewPool(cfg)
	if err != nil {
		return nil, err
	}
	return &PoolLoader{Pool: p}, nil
}

// Connect implements Loader.
func (l *PoolLoader) Connect(ctx context.Context, n, groupSize, offset int) error {
	var group func(int) string
	if groupSize > 0 {
		group = func(i int) string { return GroupName((offset + i) / groupSize) }
	}
	return l.Pool.Connect(ctx, n, group)
}

// Stats implements Loader.
func (l *PoolLoader) Stats(withHist bool) (Stats, error) { return l.Pool.Stats(withHist), nil }

// Reset implements Loader.
func (l *PoolLoader) Reset() error { l.Pool.ResetCounters(); return nil }

// Close implements Loader.
func (l *PoolLoader) Close() error { return l.Pool.Close() }

var _ Loader = (*PoolLoader)(nil)
