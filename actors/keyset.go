package actors

import (
	"slices"
	"sync"
)

// keySetSmall is how many keys a keySet keeps in a slice before it moves
// them to a map.
const keySetSmall = 16

// keySet is the group keys of one connection. Most connections are in a
// few groups (all connections, their user, a group or two): a short slice
// holds those in a fraction of a map's size; past keySetSmall keys it
// becomes a map. The zero value is empty. Guarded by its connection's groups.mu.
type keySet struct {
	small []string
	big   map[string]struct{}
}

func (s *keySet) has(key string) bool {
	if s.big != nil {
		_, ok := s.big[key]
		return ok
	}
	return slices.Contains(s.small, key)
}

// add reports whether key was not there.
func (s *keySet) add(key string) bool {
	if s.has(key) {
		return false
	}
	switch {
	case s.big != nil:
		s.big[key] = struct{}{}
	case len(s.small) < keySetSmall:
		s.small = append(s.small, key)
	default:
		s.big = make(map[string]struct{}, 2*keySetSmall)
		for _, k := range s.small {
			s.big[k] = struct{}{}
		}
		s.big[key] = struct{}{}
		s.small = nil
	}
	return true
}

// remove reports whether key was there.
func (s *keySet) remove(key string) bool {
	if s.big != nil {
		_, ok := s.big[key]
		delete(s.big, key)
		return ok
	}
	i := slices.Index(s.small, key)
	if i < 0 {
		return false
	}
	last := len(s.small) - 1
	s.small[i] = s.small[last]
	s.small[last] = ""
	s.small = s.small[:last]
	return true
}

// each calls fn for every key, in no order.
func (s *keySet) each(fn func(key string)) {
	for _, k := range s.small {
		fn(k)
	}
	for k := range s.big {
		fn(k)
	}
}

func (s *keySet) clear() { *s = keySet{} }

// membership is a connection's group keys. Every field is guarded by mu;
// joins and leaves are sent to the hub actor under it, so that one
// connection's changes reach it in order. The key of all connections,
// which every connection has, is a flag, not an entry of keys.
type membership struct {
	mu    sync.Mutex
	keys  keySet
	named int32 // keys of named groups (GroupKey), bounded by MaxGroupsPerConnection
	left  bool  // no more joins: the connection is gone
	all   bool  // a member of keyAll
}

func (m *membership) has(key string) bool {
	if key == keyAll {
		return m.all
	}
	return m.keys.has(key)
}

// add reports whether key was not there.
func (m *membership) add(key string) bool {
	if key == keyAll {
		added := !m.all
		m.all = true
		return added
	}
	return m.keys.add(key)
}

// remove reports whether key was there.
func (m *membership) remove(key string) bool {
	if key == keyAll {
		had := m.all
		m.all = false
		return had
	}
	return m.keys.remove(key)
}

// each calls fn for every key, in no order.
func (m *membership) each(fn func(key string)) {
	if m.all {
		fn(keyAll)
	}
	m.keys.each(fn)
}

func (m *membership) clear() {
	m.all = false
	m.keys.clear()
}
