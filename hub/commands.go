package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/actorhub/actorhub/backplane"
)

// Hub-wide commands: what one node asks every node of the hub to do with
// its own connections (close them, say whether it holds one, apply a user
// group change). A command goes on the hub's commands channel; every node,
// the origin included, runs it against its own connections and answers on
// the origin's answers channel; the origin waits for the answers of the
// nodes that were alive (in presence) when it asked.
//
// Channels: {hub}:internal:commands (every node), {hub}:internal:answers:{node}
// and {hub}:internal:usergroups:{node} (a node's own).

// commandQueue bounds the commands a node has received and not yet run,
// per kind; past it a command is dropped (logged) and its origin times out.
const commandQueue = 1024

// commandWorkers run the commands other than user group changes, which run
// one at a time, in the order they arrive.
const commandWorkers = 4

// commands is a hub's side of the hub-wide commands on a backplane.
type commands struct {
	h   *Hub
	s   *scaleout
	log *slog.Logger

	mu      sync.Mutex
	waiting map[int64]*waiter // guarded by mu

	work   chan *backplane.Command // exists and closes
	serial chan *backplane.Command // user group changes
	stop   chan struct{}
	wg     sync.WaitGroup
}

func (s *scaleout) commandsChannel() string        { return s.prefix + "internal:commands" }
func (s *scaleout) answersChannel(n string) string { return s.prefix + "internal:answers:" + n }
func (s *scaleout) syncChannel(n string) string    { return s.prefix + "internal:usergroups:" + n }

// startCommands subscribes to the command channels and starts the workers
// that run what other nodes ask.
func (h *Hub) startCommands() {
	s := h.scale
	c := &commands{
		h: h, s: s, log: s.log, waiting: make(map[int64]*waiter),
		work: make(chan *backplane.Command, commandQueue), serial: make(chan *backplane.Command, commandQueue),
		stop: make(chan struct{}),
	}
	h.cmds = c
	for range commandWorkers {
		c.wg.Go(func() { c.run(c.work) })
	}
	c.wg.Go(func() { c.run(c.serial) })
	waits := []<-chan struct{}{
		s.bp.Subscribe(s.commandsChannel(), c.onCommand),
		s.bp.Subscribe(s.answersChannel(s.node), c.onAnswer),
		s.bp.Subscribe(s.syncChannel(s.node), h.users.onSync),
	}
	for _, w := range waits {
		s.await(context.Background(), w)
	}
}

// stopCommands leaves the command channels and stops the workers.
func (c *commands) close() {
	s := c.s
	for _, ch := range []string{s.commandsChannel(), s.answersChannel(s.node), s.syncChannel(s.node)} {
		s.bp.Unsubscribe(ch)
	}
	close(c.stop)
	c.wg.Wait()
}

// onCommand queues a command for a worker; it runs on the backplane's
// receiving goroutine and never blocks.
func (c *commands) onCommand(_ string, msg []byte) {
	cmd, err := backplane.ReadCommand(msg)
	if err != nil {
		c.log.Warn("hub: dropped a malformed command", "err", err)
		return
	}
	cmd.Excluded = slices.Clone(cmd.Excluded) // msg is only ours until we return
	q := c.work
	if isUserGroupOp(cmd.Op) {
		q = c.serial
	}
	select {
	case q <- cmd:
	default:
		c.log.Warn("hub: too many commands waiting; dropped one", "op", cmd.Op, "origin", cmd.Origin)
	}
}

func isUserGroupOp(op backplane.CommandOp) bool {
	switch op {
	case backplane.OpUserGroupAdd, backplane.OpUserGroupRemove, backplane.OpUserGroupRemoveAll, backplane.OpUserGroupSync:
		return true
	}
	return false
}

func (c *commands) run(q chan *backplane.Command) {
	for {
		select {
		case <-c.stop:
			return
		case cmd := <-q:
			c.execute(cmd)
		}
	}
}

// execute runs a command here and answers its origin.
func (c *commands) execute(cmd *backplane.Command) {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	if cmd.Op == backplane.OpUserGroupSync {
		if cmd.Origin != c.s.node {
			c.h.users.sendSnapshot(cmd.Origin)
		}
		return
	}
	found, err := c.h.runLocal(ctx, cmd)
	if err != nil {
		c.log.Warn("hub: command failed on this node", "op", cmd.Op, "origin", cmd.Origin, "err", err)
		return // the origin times out rather than believe a wrong answer
	}
	s := c.s
	_ = s.bp.Publish(s.answersChannel(cmd.Origin), backplane.AppendAnswer(nil, &backplane.Answer{ID: cmd.ID, Node: s.node, Found: found}), nil)
}

// waiter collects the answers to one command.
type waiter struct {
	any     bool            // done at the first Found
	pending map[string]bool // nodes whose answer is still awaited
	found   bool
	done    chan struct{}
	closed  bool
}

func (c *commands) onAnswer(_ string, msg []byte) {
	a, err := backplane.ReadAnswer(msg)
	if err != nil {
		c.log.Warn("hub: dropped a malformed answer", "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.waiting[a.ID]
	if w == nil || w.closed {
		return
	}
	delete(w.pending, a.Node)
	w.found = w.found || a.Found
	if len(w.pending) == 0 || w.any && w.found {
		w.closed = true
		close(w.done)
	}
}

// ask runs cmd on every node and waits: for all of them (any false), or
// until one has found what it names (any true). It reports whether a node
// found it. Nodes that do not answer within AckTimeout give an error
// wrapping ErrNoAck, along with what the others said.
func (c *commands) ask(ctx context.Context, cmd *backplane.Command, any bool) (bool, error) {
	s := c.s
	nodes, err := s.bp.Presence(ctx, s.presenceSet(), presenceAll)
	if err != nil {
		return false, fmt.Errorf("hub: nodes of the hub: %w", err)
	}
	w := &waiter{any: any, pending: map[string]bool{s.node: true}, done: make(chan struct{})}
	for n := range nodes {
		w.pending[n] = true
	}
	cmd.ID = s.seq.Add(1)
	cmd.Origin = s.node
	c.mu.Lock()
	c.waiting[cmd.ID] = w
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, cmd.ID)
		c.mu.Unlock()
	}()
	if err := s.bp.Publish(s.commandsChannel(), backplane.AppendCommand(nil, cmd), nil); err != nil {
		return false, fmt.Errorf("hub: command through the backplane: %w", err)
	}
	err = s.wait(ctx, w.done)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == errAckTimeout {
		missing := make([]string, 0, len(w.pending))
		for n := range w.pending {
			missing = append(missing, n)
		}
		slices.Sort(missing)
		return w.found, fmt.Errorf("%w: no answer from %v within %v", ErrNoAck, missing, s.ackTimeout)
	}
	return w.found, err
}

// everywhere runs cmd on this node and, with a backplane, on every other:
// all of them (any false) or until one finds what it names (any true).
func (h *Hub) everywhere(ctx context.Context, cmd *backplane.Command, any bool) (bool, error) {
	if h.cmds == nil {
		return h.runLocal(ctx, cmd)
	}
	return h.cmds.ask(ctx, cmd, any)
}

// ErrServerClosed is what OnDisconnected gets for a connection that
// Proxy.Close closed; it wraps the reason given, if any.
var ErrServerClosed = errors.New("hub: connection closed by the server")

// runLocal runs a command against this node's own connections.
func (h *Hub) runLocal(ctx context.Context, cmd *backplane.Command) (bool, error) {
	e := h.engine
	switch cmd.Op {
	case backplane.OpConnExists:
		c, ok := e.Conn(cmd.Name)
		return ok && c.Connected(), nil
	case backplane.OpUserExists:
		return h.anyMember(ctx, userKey(cmd.Name), nil)
	case backplane.OpGroupExists:
		return h.anyMember(ctx, groupKey(cmd.Name), cmd.Excluded)
	case backplane.OpAnyExists:
		return h.anyMember(ctx, allKey, cmd.Excluded)
	case backplane.OpUserInGroup:
		conns, err := e.Members(ctx, userKey(cmd.Name))
		if err != nil {
			return false, err
		}
		for _, c := range conns {
			if c.InGroup(groupKey(cmd.Arg)) {
				return true, nil
			}
		}
		return false, nil
	case backplane.OpCloseConn:
		c, ok := e.Conn(cmd.Name)
		if ok {
			closeConn(c, cmd.Reason)
		}
		return ok, nil
	case backplane.OpCloseAll:
		return h.closeMembers(ctx, allKey, cmd.Reason, cmd.Excluded)
	case backplane.OpCloseGroup:
		return h.closeMembers(ctx, groupKey(cmd.Name), cmd.Reason, cmd.Excluded)
	case backplane.OpCloseUser:
		return h.closeMembers(ctx, userKey(cmd.Name), cmd.Reason, cmd.Excluded)
	case backplane.OpLeaveAll:
		c, ok := e.Conn(cmd.Name)
		if !ok {
			return false, nil
		}
		for _, key := range c.GroupKeys() {
			if err := e.RemoveFromGroup(ctx, c.ID, key); err != nil {
				return true, err
			}
		}
		return true, nil
	case backplane.OpUserGroupAdd, backplane.OpUserGroupRemove, backplane.OpUserGroupRemoveAll:
		return true, h.users.apply(ctx, cmd)
	}
	return false, fmt.Errorf("hub: unknown command %d", cmd.Op)
}

// anyMember reports whether key has a member here other than excluded.
func (h *Hub) anyMember(ctx context.Context, key string, excluded []string) (bool, error) {
	if len(excluded) == 0 {
		counts, err := h.engine.MemberCounts(ctx, key)
		return counts[key] > 0, err
	}
	conns, err := h.engine.Members(ctx, key)
	if err != nil {
		return false, err
	}
	for _, c := range conns {
		if !slices.Contains(excluded, c.ID) {
			return true, nil
		}
	}
	return false, nil
}

// closeMembers closes the members of key here but excluded; it reports
// whether it closed any.
func (h *Hub) closeMembers(ctx context.Context, key, reason string, excluded []string) (bool, error) {
	conns, err := h.engine.Members(ctx, key)
	if err != nil {
		return false, err
	}
	closed := false
	for _, c := range conns {
		if !slices.Contains(excluded, c.ID) {
			closeConn(c, reason)
			closed = true
		}
	}
	return closed, nil
}
