package backplane

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Presence on Redis, shared by the Redis and Redis Cluster engines: a
// node's report is a hash (key) that expires after ttl, on Redis' clock;
// the set (setKey) lists the nodes that have reported, and a node whose
// hash is gone is taken off it. The hash is replaced in one transaction
// (a reader never sees it half written); the set is written after it, on
// its own: on a cluster the two are in different slots, and a transaction
// cannot span slots.

// presenceAlive is the field every report has.
const presenceAlive = "\x00alive"

func putPresence(ctx context.Context, c redis.Cmdable, key, setKey, node string, counts map[string]int64, ttl time.Duration) error {
	fields := make([]any, 0, 2+2*len(counts))
	fields = append(fields, presenceAlive, 1) // the hash exists even with no counts
	for name, n := range counts {
		fields = append(fields, name, n)
	}
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		p.HSet(ctx, key, fields...)
		p.PExpire(ctx, key, ttl)
		return nil
	})
	if err != nil {
		return err
	}
	return c.SAdd(ctx, setKey, node).Err()
}

func readPresence(ctx context.Context, c redis.Cmdable, setKey string, keyOf func(node string) string, name string) (map[string]int64, error) {
	nodes, err := c.SMembers(ctx, setKey).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(nodes))
	if len(nodes) == 0 {
		return out, nil
	}
	cmds := make([]*redis.SliceCmd, len(nodes))
	_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range nodes {
			cmds[i] = p.HMGet(ctx, keyOf(n), presenceAlive, name)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	var gone []any
	for i, n := range nodes {
		vals, err := cmds[i].Result()
		if err != nil {
			return nil, err
		}
		if len(vals) < 2 || vals[0] == nil { // expired: the node stopped reporting
			gone = append(gone, n)
			continue
		}
		var v int64
		if s, ok := vals[1].(string); ok {
			v, _ = strconv.ParseInt(s, 10, 64)
		}
		out[n] = v
	}
	if len(gone) > 0 {
		_ = c.SRem(ctx, setKey, gone...).Err()
	}
	return out, nil
}

func dropPresence(ctx context.Context, c redis.Cmdable, key, setKey, node string) error {
	if err := c.Del(ctx, key).Err(); err != nil {
		return err
	}
	return c.SRem(ctx, setKey, node).Err()
}
