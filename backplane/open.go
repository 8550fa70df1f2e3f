package backplane

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// Options are what Open passes to every engine.
type Options struct {
	// Prefix keeps deployments that share one server apart: the engine's
	// Prefix (Redis: in front of every channel and key; PostgreSQL: of
	// the table names; NATS: the first subject token and the presence
	// buckets' names). Default: each engine's.
	Prefix string
	// Logger; nil discards.
	Logger *slog.Logger
}

// engines are the backplanes Open knows, by URL scheme. A new engine is
// one line here.
var engines = map[string]func(url string, o Options) (Backplane, error){
	"redis":         openRedis,
	"rediss":        openRedis,
	"redis-cluster": openRedisCluster,
	"postgres":      openPostgres,
	"postgresql":    openPostgres,
	"nats":          openNATS,
}

func openRedis(u string, o Options) (Backplane, error) {
	return NewRedis(RedisConfig{URL: u, Prefix: o.Prefix, Logger: o.Logger})
}

func openRedisCluster(u string, o Options) (Backplane, error) {
	cfg, err := ParseRedisClusterURL(u)
	if err != nil {
		return nil, err
	}
	cfg.Prefix, cfg.Logger = o.Prefix, o.Logger
	return NewRedisCluster(cfg)
}

func openPostgres(u string, o Options) (Backplane, error) {
	return NewPostgres(PostgresConfig{URL: u, Prefix: o.Prefix, Logger: o.Logger})
}

func openNATS(u string, o Options) (Backplane, error) {
	return NewNATS(NATSConfig{URL: u, Prefix: o.Prefix, Logger: o.Logger})
}

// Open connects to the backplane that rawURL names, chosen by its scheme:
// redis:// or rediss:// (Redis), redis-cluster://host:port,host:port
// (Redis Cluster, sharded publish/subscribe), postgres:// or postgresql://
// (PostgreSQL), nats:// (NATS). An unknown scheme, a malformed URL or a
// server that does not answer within the engine's DialTimeout is an
// error that names the server (never its password).
func Open(rawURL string, o Options) (Backplane, error) {
	scheme, _, ok := strings.Cut(rawURL, "://")
	open := engines[strings.ToLower(scheme)]
	if !ok || open == nil {
		return nil, fmt.Errorf("backplane: %q is not a backplane URL: want redis://, rediss://, redis-cluster://, postgres://, postgresql:// or nats://", redact(rawURL))
	}
	return open(rawURL, o)
}

// redact hides the password of a URL, for errors and logs.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		if i := strings.LastIndex(rawURL, "@"); i >= 0 {
			if j := strings.Index(rawURL, "://"); j >= 0 && j < i {
				return rawURL[:j+3] + "xxxxx" + rawURL[i:]
			}
			return "xxxxx" + rawURL[i:]
		}
		return rawURL
	}
	return u.Redacted()
}

// hostsOf names the servers of a URL (host:port, comma-separated for a
// list), for errors.
func hostsOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return redact(rawURL)
	}
	return u.Host
}
