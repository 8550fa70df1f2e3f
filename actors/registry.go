package actors

import (
	"hash/maphash"
	"runtime"
	"sync"
)

const registryShards = 64

// registry maps connection ids to live connections, in shards so that
// lookups from many goroutines rarely meet on one lock.
type registry struct {
	seed   maphash.Seed
	shards [registryShards]struct {
		mu sync.Mutex
		m  map[string]*Conn // guarded by mu
	}
}

func (r *registry) init() {
	r.seed = maphash.MakeSeed()
	for i := range r.shards {
		r.shards[i].m = make(map[string]*Conn)
	}
}

func (r *registry) shard(id string) int {
	return int(maphash.String(r.seed, id) % registryShards)
}

func (r *registry) put(c *Conn) {
	s := &r.shards[r.shard(c.ID)]
	s.mu.Lock()
	s.m[c.ID] = c
	s.mu.Unlock()
}

func (r *registry) get(id string) (*Conn, bool) {
	s := &r.shards[r.shard(id)]
	s.mu.Lock()
	c, ok := s.m[id]
	s.mu.Unlock()
	return c, ok
}

// remove deletes c (and not a newer connection that reused its id).
func (r *registry) remove(c *Conn) {
	s := &r.shards[r.shard(c.ID)]
	s.mu.Lock()
	if s.m[c.ID] == c {
		delete(s.m, c.ID)
	}
	s.mu.Unlock()
}

func (r *registry) len() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// each calls fn for every connection, outside the registry's locks.
func (r *registry) each(fn func(*Conn)) {
	var batch []*Conn
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for _, c := range s.m {
			batch = append(batch, c)
		}
		s.mu.Unlock()
		for _, c := range batch {
			fn(c)
		}
		batch = batch[:0]
	}
}

func numCPU() int { return runtime.GOMAXPROCS(0) }
