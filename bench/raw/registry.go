package main

import (
	"sync"

	"github.com/actorhub/actorhub/protocol"
)

// shard is a part of the registry of connections.
type shard struct {
	mu    sync.RWMutex
	conns []*conn // guarded by mu; conn.slot is the index
}

// add puts c in the registry and writes the handshake reply, both under
// its shard's lock: every broadcast either comes after the reply and
// reaches c, or is written before c is in the registry. (Were the reply
// written first, a client could see its handshake succeed, then miss a
// broadcast that a later message of its own caused.) inUse counts c
// first, so a broadcast that finds c has its protocol's frame.
func (s *Server) add(c *conn, reply []byte) {
	s.inUse[c.pi].Add(1)
	sh := &s.shards[int(s.next.Add(1))%len(s.shards)]
	sh.mu.Lock()
	c.shard, c.slot = sh, len(sh.conns)
	sh.conns = append(sh.conns, c)
	c.write(reply)
	sh.mu.Unlock()
}

// remove takes c out of the registry and its groups.
func (s *Server) remove(c *conn) {
	s.mu.Lock()
	c.gone = true
	for g := range c.groups {
		s.leaveLocked(c, g)
	}
	s.mu.Unlock()

	sh := c.shard
	if sh == nil {
		return // no handshake
	}
	sh.mu.Lock()
	last := len(sh.conns) - 1
	moved := sh.conns[last]
	sh.conns[c.slot] = moved
	moved.slot = c.slot
	sh.conns[last] = nil
	sh.conns = sh.conns[:last]
	c.slot = -1
	sh.mu.Unlock()
	s.inUse[c.pi].Add(-1)
}

// join adds c to group; the membership is in effect when join returns.
func (s *Server) join(c *conn, group string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.gone {
		return
	}
	m := s.groups[group]
	if m == nil {
		m = map[*conn]struct{}{}
		s.groups[group] = m
	}
	m[c] = struct{}{}
	if c.groups == nil {
		c.groups = map[string]struct{}{}
	}
	c.groups[group] = struct{}{}
}

// leave removes c from group.
func (s *Server) leave(c *conn, group string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leaveLocked(c, group)
}

func (s *Server) leaveLocked(c *conn, group string) {
	delete(c.groups, group)
	if m := s.groups[group]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(s.groups, group)
		}
	}
}

// sendAll writes method(arg) to every connection, arg being a value decoded
// by from (the caller's protocol). The Invocation is framed once per
// protocol in use; the shards are written in parallel, and sendAll returns
// when every frame is queued.
func (s *Server) sendAll(from protocol.Protocol, method string, arg any) {
	var frames [2][]byte
	for i, p := range protocols {
		if s.inUse[i].Load() > 0 {
			frames[i] = encodeInvocation(from, p, method, arg)
		}
	}
	var wg sync.WaitGroup
	wg.Add(len(s.shards) - 1)
	for i := 1; i < len(s.shards); i++ {
		s.fan <- fanJob{sh: &s.shards[i], frames: &frames, wg: &wg}
	}
	s.shards[0].writeAll(&frames)
	wg.Wait()
}

// fanJob asks a fan-out goroutine to write frames to a shard.
type fanJob struct {
	sh     *shard
	frames *[2][]byte // by conn.pi; read only
	wg     *sync.WaitGroup
}

// fanOut is a goroutine of the fan-out pool; Close ends it.
func (s *Server) fanOut() {
	defer s.fanDone.Done()
	for j := range s.fan {
		j.sh.writeAll(j.frames)
		j.wg.Done()
	}
}

func (sh *shard) writeAll(frames *[2][]byte) {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	for _, c := range sh.conns {
		if f := frames[c.pi]; f != nil {
			c.write(f)
		}
	}
}

// sendGroup writes method(arg) to the members of group, on the caller's
// goroutine (groups are small; many are sent to at once).
func (s *Server) sendGroup(from protocol.Protocol, group, method string, arg any) {
	var frames [2][]byte
	var encoded [2]bool
	s.mu.RLock()
	defer s.mu.RUnlock()
	for c := range s.groups[group] {
		if !encoded[c.pi] {
			frames[c.pi], encoded[c.pi] = encodeInvocation(from, protocols[c.pi], method, arg), true
		}
		if f := frames[c.pi]; f != nil {
			c.write(f)
		}
	}
}

// encodeInvocation frames Invocation{method, [arg]} for p. The argument is
// copied verbatim into the caller's own protocol; for the other one it is
// decoded first (a JSON argument goes to MessagePack directly). A value
// that p cannot carry gives nil: those recipients get nothing.
func encodeInvocation(from, p protocol.Protocol, method string, arg any) []byte {
	if p != from && p == protocol.JSON {
		var v any
		if err := from.Bind(arg, &v); err != nil {
			return nil
		}
		arg = v
	}
	args := [1]any{arg}
	f, err := appendFramed(p, &protocol.Invocation{Target: method, Arguments: args[:]})
	if err != nil {
		return nil
	}
	return f
}
