package actors

import "slices"

// memberSet is a set of connections with O(1) add and remove and a dense
// slice to range over when fanning out. A set that shrinks to a quarter of
// its largest size is rebuilt, so that a burst of members leaves no memory
// behind.
//
// Its index is an open-addressed table (linear probing) of positions in
// members, 4 bytes a slot and at most 3/4 full, hashed by the connection's
// seq: about 7 bytes a member where a map[*Conn]int costs about 28. Every
// connection is in at least two sets (its shard of all connections, and
// each of its groups), so this is per connection per set.
type memberSet struct {
	members []*Conn
	slots   []int32 // 0: empty; else 1 + the member's position in members. len is 0 or a power of two
	peak    int     // most members since the set was last rebuilt
}

// minSlots is the table's smallest size once the set has a member.
const minSlots = 8

// home is c's first slot in a table of n slots (n a power of two). seq is
// sequential, and a shard's members share its remainder by the shard
// count: the multiplication spreads them, the top bits are taken.
func home(c *Conn, n int) int {
	return int((c.seq * 0x9E3779B97F4A7C15) >> 32 & uint64(n-1))
}

// find returns c's slot and true, or the empty slot where c would go and
// false. The table must have a slot.
func (s *memberSet) find(c *Conn) (int, bool) {
	mask := len(s.slots) - 1
	for i := home(c, len(s.slots)); ; i = (i + 1) & mask {
		v := s.slots[i]
		if v == 0 {
			return i, false
		}
		if s.members[v-1] == c {
			return i, true
		}
	}
}

func (s *memberSet) add(c *Conn) {
	if len(s.slots) > 0 {
		if _, ok := s.find(c); ok {
			return
		}
	}
	if (len(s.members)+1)*4 > len(s.slots)*3 {
		s.rehash(max(minSlots, 2*len(s.slots)))
	}
	i, _ := s.find(c)
	s.members = append(s.members, c)
	s.slots[i] = int32(len(s.members))
	s.peak = max(s.peak, len(s.members))
}

func (s *memberSet) remove(c *Conn) {
	if len(s.slots) == 0 {
		return
	}
	i, ok := s.find(c)
	if !ok {
		return
	}
	at := int(s.slots[i] - 1)
	s.clearSlot(i)
	last := len(s.members) - 1
	if at != last {
		j, _ := s.find(s.members[last])
		s.slots[j] = int32(at + 1)
		s.members[at] = s.members[last]
	}
	s.members[last] = nil
	s.members = s.members[:last]
	if s.peak > shrinkMin && len(s.members) < s.peak/4 {
		s.members = slices.Clone(s.members)
		s.rehash(slotsFor(len(s.members)))
		s.peak = len(s.members)
	}
}

// clearSlot empties slot i and moves back the entries after it that
// would no longer be found (backward-shift deletion), so that no probe
// sequence has a hole.
func (s *memberSet) clearSlot(i int) {
	mask := len(s.slots) - 1
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		v := s.slots[j]
		if v == 0 {
			break
		}
		// The entry at j stays unless its home lies cyclically outside
		// (i, j]: then its probe passes through i, and it moves there.
		h := home(s.members[v-1], len(s.slots))
		if (i <= j && i < h && h <= j) || (i > j && (i < h || h <= j)) {
			continue
		}
		s.slots[i] = v
		i = j
	}
	s.slots[i] = 0
}

// slotsFor is the table size for n members: a power of two, at least
// minSlots, at most 3/4 full.
func slotsFor(n int) int {
	size := minSlots
	for size*3 < n*4 {
		size *= 2
	}
	return size
}

// rehash rebuilds the table with size slots.
func (s *memberSet) rehash(size int) {
	s.slots = make([]int32, size)
	mask := size - 1
	for k, c := range s.members {
		i := home(c, size)
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = int32(k + 1)
	}
}
