package hub

import (
	"container/heap"
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/actorhub/actorhub/backplane"
)

// User groups: a user's membership of a group, as Azure SignalR Service's
// REST API has it. Every connection the user has, and every connection it
// makes later, on any node, is a member of the group until the membership
// ends (RemoveUser, RemoveUserFromAll) or expires.
//
// Every node keeps the whole table in memory. A change is a hub-wide
// command that every node applies (the table, then its own connections of
// the user); each entry carries the time and node of its last change, and
// a change older than what a node has is ignored, so nodes agree whatever
// order changes reach them in. A node that starts asks the others for
// their tables. Ended memberships are kept for tombstoneTTL so that an
// older change that arrives late cannot bring them back.

// UserGroupMaxTTL is how long a user group membership made without a TTL
// lasts, as in Azure SignalR Service.
const UserGroupMaxTTL = 365 * 24 * time.Hour

// MaxUserGroupsWithoutTTL is how many memberships without a TTL a user
// keeps; past it the oldest goes, as in Azure SignalR Service.
const MaxUserGroupsWithoutTTL = 100

// tombstoneTTL is how long an ended membership is remembered.
const tombstoneTTL = 10 * time.Minute

// noTTL marks a membership made without a TTL on the wire: it lasts
// UserGroupMaxTTL from its stamp.
const noTTL = math.MaxInt64

// ErrTooManyUserGroups: the hub holds Config.MaxUserGroups memberships.
var ErrTooManyUserGroups = errors.New("hub: too many user group memberships")

// stamp orders changes: time at the origin, then the origin's name.
type stamp struct {
	at     int64
	origin string
}

func (a stamp) after(b stamp) bool {
	return a.at > b.at || a.at == b.at && a.origin > b.origin
}

type membership struct {
	stamp   stamp
	expires int64 // unix nanoseconds; noTTL: UserGroupMaxTTL after the stamp
	removed bool
	due     *dueEntry // when it ends or, removed, is forgotten
}

// until is when the membership ends.
func (m *membership) until() int64 {
	if m.expires == noTTL {
		return m.stamp.at + int64(UserGroupMaxTTL)
	}
	return m.expires
}

type userEntry struct {
	cleared    stamp     // the user left every group then; zero: never
	clearedDue *dueEntry // when that is forgotten
	groups     map[string]*membership
}

// userGroups is a hub's table of user group memberships.
type userGroups struct {
	h   *Hub
	max int

	mu    sync.Mutex
	users map[string]*userEntry // guarded by mu
	size  int                   // memberships and tombstones; guarded by mu
	due   dueHeap               // guarded by mu

	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	syncMu   sync.Mutex
	syncWant map[string]bool // nodes whose table is awaited; guarded by syncMu
	syncDone chan struct{}   // closed when syncWant empties; guarded by syncMu
}

func newUserGroups(h *Hub, max int) *userGroups {
	u := &userGroups{
		h: h, max: max, users: make(map[string]*userEntry),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	// Owner: the Hub. Shutdown calls close, which stops it and waits for done.
	go u.expire()
	return u
}

// close stops the expiry goroutine.
func (u *userGroups) close() {
	close(u.stop)
	<-u.done
}

// AddUser makes user a member of group on every node: its connections now,
// and those it makes until the membership ends or ttl passes (ttl <= 0
// means UserGroupMaxTTL; a user keeps at most MaxUserGroupsWithoutTTL such
// memberships, the oldest go). When the membership expires, the user's
// connections leave the group. It returns once every node has applied it;
// a send to the group after that reaches the user's connections.
//
// With a backplane, nodes that do not answer within Config.AckTimeout give
// an error wrapping ErrNoAck (they apply it when it reaches them). A hub
// that holds Config.MaxUserGroups memberships refuses more with
// ErrTooManyUserGroups.
func (g Groups) AddUser(ctx context.Context, user, group string, ttl time.Duration) error {
	if user == "" || group == "" {
		return errors.New("hub: AddUser needs a user and a group")
	}
	now := time.Now().UnixNano()
	expires := int64(noTTL)
	if ttl > 0 {
		expires = now + int64(ttl)
	}
	if g.h.users.full(user, group) {
		return ErrTooManyUserGroups
	}
	return g.userCommand(ctx, &backplane.Command{Op: backplane.OpUserGroupAdd, Name: user, Arg: group, Stamp: now, Expires: expires})
}

// AddUserConnections makes the user's current connections, on every node,
// members of group, as a connection's Add does; nothing is remembered, so
// its later connections are not (Azure's ttl=0).
func (g Groups) AddUserConnections(ctx context.Context, user, group string) error {
	if user == "" || group == "" {
		return errors.New("hub: AddUserConnections needs a user and a group")
	}
	return g.userCommand(ctx, &backplane.Command{Op: backplane.OpUserGroupAdd, Name: user, Arg: group, Stamp: time.Now().UnixNano()})
}

// RemoveUser ends user's membership of group: the user's connections, on
// every node, leave the group (whether they joined through the user or on
// their own), and its later connections do not join. It returns once every
// node has applied it.
func (g Groups) RemoveUser(ctx context.Context, user, group string) error {
	return g.userCommand(ctx, &backplane.Command{Op: backplane.OpUserGroupRemove, Name: user, Arg: group, Stamp: time.Now().UnixNano()})
}

// RemoveUserFromAll ends every group membership of user: its connections,
// on every node, leave every group. It returns once every node has applied
// it.
func (g Groups) RemoveUserFromAll(ctx context.Context, user string) error {
	return g.userCommand(ctx, &backplane.Command{Op: backplane.OpUserGroupRemoveAll, Name: user, Stamp: time.Now().UnixNano()})
}

// HasUser reports whether user is a member of group: it has a membership
// (AddUser), or one of its connections, on any node, is in the group.
func (g Groups) HasUser(ctx context.Context, user, group string) (bool, error) {
	if g.h.users.live(user, group, time.Now().UnixNano()) {
		return true, nil
	}
	cmd := &backplane.Command{Op: backplane.OpUserInGroup, Name: user, Arg: group}
	found, err := g.h.runLocal(ctx, cmd)
	if err != nil || found || g.h.cmds == nil {
		return found, err
	}
	return g.h.cmds.ask(ctx, cmd, true)
}

// RemoveFromAll takes the connection, on whichever node holds it, out of
// every group it is in. An unknown connection is not an error.
func (g Groups) RemoveFromAll(ctx context.Context, connectionID string) error {
	cmd := &backplane.Command{Op: backplane.OpLeaveAll, Name: connectionID}
	found, err := g.h.runLocal(ctx, cmd)
	if err != nil || found || g.h.cmds == nil {
		return err
	}
	_, err = g.h.cmds.ask(ctx, cmd, true)
	return err
}

func (g Groups) userCommand(ctx context.Context, cmd *backplane.Command) error {
	cmd.Origin = g.h.NodeID()
	_, err := g.h.everywhere(ctx, cmd, false)
	return err
}

// apply runs a user group change on this node: the table, then this node's
// connections of the user. A change older than the table's is ignored.
func (u *userGroups) apply(ctx context.Context, cmd *backplane.Command) error {
	st := stamp{cmd.Stamp, cmd.Origin}
	switch cmd.Op {
	case backplane.OpUserGroupAdd:
		if cmd.Expires != 0 {
			changed, err := u.merge(backplane.UserGroup{User: cmd.Name, Group: cmd.Arg, Stamp: cmd.Stamp, Origin: cmd.Origin, Expires: cmd.Expires})
			if err != nil || !changed {
				return err
			}
		} else if u.clearedAfter(cmd.Name, cmd.Arg, st) {
			return nil
		}
		return u.h.eachUserConn(ctx, cmd.Name, func(id string) error { return u.h.joinLocal(ctx, id, cmd.Arg) })
	case backplane.OpUserGroupRemove:
		if changed, err := u.merge(backplane.UserGroup{User: cmd.Name, Group: cmd.Arg, Stamp: cmd.Stamp, Origin: cmd.Origin, Removed: true}); err != nil || !changed {
			return err
		}
		return u.h.eachUserConn(ctx, cmd.Name, func(id string) error {
			return u.h.engine.RemoveFromGroup(ctx, id, groupKey(cmd.Arg))
		})
	case backplane.OpUserGroupRemoveAll:
		if changed, err := u.merge(backplane.UserGroup{User: cmd.Name, Stamp: cmd.Stamp, Origin: cmd.Origin, Removed: true}); err != nil || !changed {
			return err
		}
		return u.h.eachUserConn(ctx, cmd.Name, func(id string) error {
			c, ok := u.h.engine.Conn(id)
			if !ok {
				return nil
			}
			for _, key := range c.GroupKeys() {
				if err := u.h.engine.RemoveFromGroup(ctx, id, key); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return nil
}

// eachUserConn calls fn with the id of every connection of user on this
// node.
func (h *Hub) eachUserConn(ctx context.Context, user string, fn func(id string) error) error {
	conns, err := h.engine.Members(ctx, userKey(user))
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range conns {
		if err := fn(c.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// joinLocal adds a connection of this node to a group, once the membership
// is in effect from any node (with a backplane, once the group's channel
// is subscribed).
func (h *Hub) joinLocal(ctx context.Context, id, group string) error {
	var err error
	if h.scale != nil {
		err = h.scale.addLocal(ctx, h.engine, id, group)
	} else {
		err = h.engine.AddToGroup(ctx, id, groupKey(group))
	}
	if errors.Is(err, errNotFound) {
		return nil // gone meanwhile
	}
	return err
}

// joinUserGroups adds a connection that has just connected to its user's
// groups; it runs before the hub's OnConnected, in the connection's turn,
// so the client's handshake is answered with the memberships in effect.
func (h *Hub) joinUserGroups(ctx context.Context, id, user string) error {
	if user == "" {
		return nil
	}
	for _, group := range h.users.groupsOf(user, time.Now().UnixNano()) {
		if err := h.joinLocal(ctx, id, group); err != nil {
			return err
		}
	}
	return nil
}

// merge applies one entry to the table and reports whether it changed
// anything (an older entry does not).
func (u *userGroups) merge(e backplane.UserGroup) (bool, error) {
	now := time.Now().UnixNano()
	st := stamp{e.Stamp, e.Origin}
	u.mu.Lock()
	defer u.mu.Unlock()
	ue := u.users[e.User]
	if e.Group == "" { // the user left every group
		if !e.Removed {
			return false, nil
		}
		if ue == nil {
			ue = &userEntry{groups: make(map[string]*membership)}
			u.users[e.User] = ue
		}
		if !st.after(ue.cleared) {
			return false, nil
		}
		ue.cleared = st
		for g, m := range ue.groups {
			if !m.stamp.after(st) {
				delete(ue.groups, g)
				heap.Remove(&u.due, m.due.index)
				u.size--
			}
		}
		u.schedule(&ue.clearedDue, e.Stamp+int64(tombstoneTTL), e.User, "", st)
		return true, nil
	}
	if ue != nil && !st.after(ue.cleared) {
		return false, nil
	}
	m := &membership{stamp: st, expires: e.Expires, removed: e.Removed}
	if !m.removed && m.until() <= now {
		return false, nil // expired on its way
	}
	if ue == nil {
		ue = &userEntry{groups: make(map[string]*membership)}
		u.users[e.User] = ue
	}
	old := ue.groups[e.Group]
	if old != nil && !st.after(old.stamp) {
		return false, nil
	}
	if old == nil {
		if u.size >= u.max {
			return false, ErrTooManyUserGroups
		}
		u.size++
	} else {
		m.due = old.due
	}
	ue.groups[e.Group] = m
	at := m.until()
	if m.removed {
		at = e.Stamp + int64(tombstoneTTL)
	}
	u.schedule(&m.due, at, e.User, e.Group, st)
	if m.expires == noTTL && !m.removed {
		u.capLocked(ue)
	}
	return true, nil
}

// capLocked keeps a user's memberships without TTL to the newest
// MaxUserGroupsWithoutTTL; the others become tombstones.
func (u *userGroups) capLocked(ue *userEntry) {
	n := 0
	var oldest *membership
	for _, m := range ue.groups {
		if m.expires == noTTL && !m.removed {
			n++
			if oldest == nil || oldest.stamp.after(m.stamp) {
				oldest = m
			}
		}
	}
	if n > MaxUserGroupsWithoutTTL {
		oldest.removed = true // its connections stay until they reconnect
		oldest.due.at = oldest.stamp.at + int64(tombstoneTTL)
		heap.Fix(&u.due, oldest.due.index)
	}
}

// schedule sets when something of the table ends: *slot is its entry in
// the heap, made on first use and moved afterwards, so the heap holds one
// entry per membership and per "left every group" mark.
func (u *userGroups) schedule(slot **dueEntry, at int64, user, group string, st stamp) {
	if *slot == nil {
		*slot = &dueEntry{}
		heap.Push(&u.due, *slot)
	}
	d := *slot
	d.at, d.user, d.group, d.stamp = at, user, group, st
	heap.Fix(&u.due, d.index)
	u.poke()
}

// full reports whether a new membership would pass Config.MaxUserGroups.
func (u *userGroups) full(user, group string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if ue := u.users[user]; ue != nil && ue.groups[group] != nil {
		return false
	}
	return u.size >= u.max
}

// clearedAfter reports whether the user left every group (or this one)
// after st: a change made at st comes too late.
func (u *userGroups) clearedAfter(user, group string, st stamp) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	ue := u.users[user]
	if ue == nil {
		return false
	}
	if ue.cleared.after(st) {
		return true
	}
	m := ue.groups[group]
	return m != nil && m.removed && m.stamp.after(st)
}

func (u *userGroups) live(user, group string, now int64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	ue := u.users[user]
	if ue == nil {
		return false
	}
	m := ue.groups[group]
	return m != nil && !m.removed && m.until() > now
}

// groupsOf is the groups user is a member of now.
func (u *userGroups) groupsOf(user string, now int64) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	ue := u.users[user]
	if ue == nil {
		return nil
	}
	var out []string
	for g, m := range ue.groups {
		if !m.removed && m.until() > now {
			out = append(out, g)
		}
	}
	return out
}

func (u *userGroups) poke() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// expire ends memberships when they expire (the user's connections here
// leave the group) and forgets tombstones after tombstoneTTL. Every node
// does so on its own clock.
func (u *userGroups) expire() {
	defer close(u.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		u.mu.Lock()
		wait := time.Hour
		if len(u.due) > 0 {
			wait = time.Duration(u.due[0].at - time.Now().UnixNano())
		}
		u.mu.Unlock()
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(max(wait, 0))
		select {
		case <-u.stop:
			return
		case <-u.wake:
			continue
		case <-t.C:
		}
		for _, e := range u.takeDue() {
			ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
			err := u.h.eachUserConn(ctx, e.user, func(id string) error {
				return u.h.engine.RemoveFromGroup(ctx, id, groupKey(e.group))
			})
			cancel()
			if err != nil && !u.h.closed.Load() {
				u.h.log.Warn("hub: an expired user group membership could not be applied", "user", e.user, "group", e.group, "err", err)
			}
		}
	}
}

// takeDue removes what is due from the table and returns the memberships
// that expired (their connections have to leave).
func (u *userGroups) takeDue() []dueEntry {
	now := time.Now().UnixNano()
	u.mu.Lock()
	defer u.mu.Unlock()
	var expired []dueEntry
	for len(u.due) > 0 && u.due[0].at <= now {
		e := heap.Pop(&u.due).(*dueEntry)
		ue := u.users[e.user]
		if ue == nil {
			continue
		}
		if e.group == "" {
			ue.cleared, ue.clearedDue = stamp{}, nil
		} else if m := ue.groups[e.group]; m != nil {
			delete(ue.groups, e.group)
			u.size--
			if !m.removed {
				expired = append(expired, *e)
			}
		}
		if len(ue.groups) == 0 && ue.cleared == (stamp{}) {
			delete(u.users, e.user)
		}
	}
	return expired
}

// dueEntry is when something of the table ends: a membership (expiry or
// tombstone), or a user's "left every group" mark (group "").
type dueEntry struct {
	at    int64
	user  string
	group string
	stamp stamp
	index int // in the heap
}

type dueHeap []*dueEntry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *dueHeap) Push(x any) {
	e := x.(*dueEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

// Start-up: a node that starts asks the others for their tables and waits
// (up to AckTimeout) for the last part of each before it serves.

// syncFromPeers asks every other live node for its table and merges what
// they send.
func (u *userGroups) syncFromPeers(ctx context.Context) {
	s := u.h.scale
	nodes, err := s.bp.Presence(ctx, s.presenceSet(), presenceAll)
	if err != nil {
		s.log.Warn("hub: could not list the nodes to ask for user groups", "err", err)
		return
	}
	u.syncMu.Lock()
	u.syncWant = make(map[string]bool)
	for n := range nodes {
		if n != s.node {
			u.syncWant[n] = true
		}
	}
	if len(u.syncWant) == 0 {
		u.syncMu.Unlock()
		return
	}
	done := make(chan struct{})
	u.syncDone = done
	u.syncMu.Unlock()
	cmd := &backplane.Command{Op: backplane.OpUserGroupSync, Origin: s.node, ID: s.seq.Add(1)}
	if err := s.bp.Publish(s.commandsChannel(), backplane.AppendCommand(nil, cmd), nil); err != nil {
		s.log.Warn("hub: could not ask for user groups", "err", err)
		return
	}
	if s.wait(ctx, done) != nil {
		s.log.Warn("hub: not every node sent its user groups in time")
	}
}

// onSync merges part of another node's table; it runs on the backplane's
// receiving goroutine (merging does not block).
func (u *userGroups) onSync(_ string, msg []byte) {
	m, err := backplane.ReadUserGroups(msg)
	if err != nil {
		u.h.log.Warn("hub: dropped malformed user groups", "err", err)
		return
	}
	for _, e := range m.Entries {
		if _, err := u.merge(e); err != nil {
			u.h.log.Warn("hub: user groups from another node not kept", "node", m.Node, "err", err)
			break
		}
	}
	if !m.Last {
		return
	}
	u.syncMu.Lock()
	defer u.syncMu.Unlock()
	if u.syncWant[m.Node] {
		delete(u.syncWant, m.Node)
		if len(u.syncWant) == 0 && u.syncDone != nil {
			close(u.syncDone)
			u.syncDone = nil
		}
	}
}

// sendSnapshot sends this node's table to node, in parts that fit the
// backplane's message size.
func (u *userGroups) sendSnapshot(node string) {
	s := u.h.scale
	var entries []backplane.UserGroup
	u.mu.Lock()
	for user, ue := range u.users {
		if ue.cleared != (stamp{}) {
			entries = append(entries, backplane.UserGroup{User: user, Stamp: ue.cleared.at, Origin: ue.cleared.origin, Removed: true})
		}
		for g, m := range ue.groups {
			entries = append(entries, backplane.UserGroup{User: user, Group: g, Stamp: m.stamp.at, Origin: m.stamp.origin, Expires: m.expires, Removed: m.removed})
		}
	}
	u.mu.Unlock()
	limit := s.maxSize / 2
	for {
		size, n := 64, 0
		for n < len(entries) && size+backplane.UserGroupSize(&entries[n]) <= limit {
			size += backplane.UserGroupSize(&entries[n])
			n++
		}
		if n == 0 && len(entries) > 0 {
			n = 1 // an entry larger than the limit goes alone
		}
		part := &backplane.UserGroups{Node: s.node, Last: n == len(entries), Entries: entries[:n]}
		if err := s.bp.Publish(s.syncChannel(node), backplane.AppendUserGroups(nil, part), nil); err != nil {
			s.log.Warn("hub: could not send user groups", "to", node, "err", err)
			return
		}
		entries = entries[n:]
		if part.Last {
			return
		}
	}
}
