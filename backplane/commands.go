package backplane

import "fmt"

// Messages of the hub-wide commands: what a node asks every node of a hub
// to do with its own connections (close them, say whether it has one,
// apply a user's group membership), and the answers. Laid out like the
// other messages (MessagePack arrays; readers skip items they do not know).

// CommandOp is what a Command asks.
type CommandOp byte

// The command operations. Each node answers every command it gets with an
// Answer; Found says whether it had what the command names.
const (
	// OpConnExists: is connection Name connected here?
	OpConnExists CommandOp = 1
	// OpUserExists: has user Name a connection here?
	OpUserExists CommandOp = 2
	// OpGroupExists: has group Name a member here (other than Excluded)?
	OpGroupExists CommandOp = 3
	// OpUserInGroup: is a connection of user Name in group Arg here?
	OpUserInGroup CommandOp = 4
	// OpAnyExists: is any connection (other than Excluded) here?
	OpAnyExists CommandOp = 5
	// OpCloseConn: close connection Name with Reason.
	OpCloseConn CommandOp = 10
	// OpCloseAll: close every connection but Excluded, with Reason.
	OpCloseAll CommandOp = 11
	// OpCloseGroup: close the members of group Name but Excluded.
	OpCloseGroup CommandOp = 12
	// OpCloseUser: close the connections of user Name but Excluded.
	OpCloseUser CommandOp = 13
	// OpLeaveAll: connection Name leaves every group.
	OpLeaveAll CommandOp = 14
	// OpUserGroupAdd: user Name is in group Arg until Expires (unix
	// nanoseconds), as of Stamp; Expires 0 means only the user's current
	// connections join and nothing is kept.
	OpUserGroupAdd CommandOp = 20
	// OpUserGroupRemove: user Name is not in group Arg, as of Stamp.
	OpUserGroupRemove CommandOp = 21
	// OpUserGroupRemoveAll: user Name is in no group, as of Stamp.
	OpUserGroupRemoveAll CommandOp = 22
	// OpUserGroupSync: the origin (a node that started) asks for every
	// node's user groups (UserGroups messages on its sync channel).
	OpUserGroupSync CommandOp = 23
)

// Command is what a node asks every node of a hub (itself included) to do
// or say. Each node answers with an Answer on the origin's answer channel.
//
// On the wire: [id, origin, op, name, arg, reason, excluded, stamp, expires].
type Command struct {
	ID       int64
	Origin   string
	Op       CommandOp
	Name     string
	Arg      string
	Reason   string
	Excluded []string
	// Stamp orders the changes of user groups: unix nanoseconds at the
	// origin (ties broken by Origin).
	Stamp   int64
	Expires int64
}

// Answer is one node's answer to a Command.
//
// On the wire: [id, node, found].
type Answer struct {
	ID    int64
	Node  string
	Found bool
}

// UserGroup is one entry of a node's table of user group memberships: user
// User is in Group until Expires (unix nanoseconds), as of Stamp by Origin;
// Removed marks a membership that ended (kept for a while so that an older
// change arriving late cannot bring it back). An entry with no Group and
// Removed set says the user left every group at Stamp.
type UserGroup struct {
	User    string
	Group   string
	Stamp   int64
	Origin  string
	Expires int64
	Removed bool
}

// UserGroups is part of a node's table of user groups, sent to a node that
// asked with OpUserGroupSync; Last marks the sender's final part.
//
// On the wire: [node, last, [[user, group, stamp, origin, expires, removed], ...]].
type UserGroups struct {
	Node    string
	Last    bool
	Entries []UserGroup
}

// AppendCommand appends m's encoding to dst.
func AppendCommand(dst []byte, m *Command) []byte {
	w := newWriter(dst)
	w.enc.EncodeArrayLen(9)
	w.enc.EncodeInt(m.ID)
	w.enc.EncodeString(m.Origin)
	w.enc.EncodeUint8(uint8(m.Op))
	w.enc.EncodeString(m.Name)
	w.enc.EncodeString(m.Arg)
	w.enc.EncodeString(m.Reason)
	w.strings(m.Excluded)
	w.enc.EncodeInt(m.Stamp)
	w.enc.EncodeInt(m.Expires)
	return w.buf.Bytes()
}

// ReadCommand decodes a Command. An operation it does not know is
// malformed.
func ReadCommand(data []byte) (*Command, error) {
	r := newReader(data)
	n := r.arrayLen()
	if n < 9 {
		return nil, r.fail("command", n)
	}
	m := &Command{
		ID: r.int(), Origin: r.str(), Op: CommandOp(r.int()), Name: r.str(), Arg: r.str(),
		Reason: r.str(), Excluded: r.strings(), Stamp: r.int(), Expires: r.int(),
	}
	r.skip(n - 9)
	if err := r.done("command"); err != nil {
		return nil, err
	}
	if !m.Op.known() {
		return nil, fmt.Errorf("%w: command operation %d", ErrMalformed, m.Op)
	}
	return m, nil
}

func (op CommandOp) known() bool {
	switch op {
	case OpConnExists, OpUserExists, OpGroupExists, OpUserInGroup, OpAnyExists,
		OpCloseConn, OpCloseAll, OpCloseGroup, OpCloseUser, OpLeaveAll,
		OpUserGroupAdd, OpUserGroupRemove, OpUserGroupRemoveAll, OpUserGroupSync:
		return true
	}
	return false
}

// AppendAnswer appends m's encoding to dst.
func AppendAnswer(dst []byte, m *Answer) []byte {
	w := newWriter(dst)
	w.enc.EncodeArrayLen(3)
	w.enc.EncodeInt(m.ID)
	w.enc.EncodeString(m.Node)
	w.enc.EncodeBool(m.Found)
	return w.buf.Bytes()
}

// ReadAnswer decodes an Answer.
func ReadAnswer(data []byte) (*Answer, error) {
	r := newReader(data)
	n := r.arrayLen()
	if n < 3 {
		return nil, r.fail("answer", n)
	}
	m := &Answer{ID: r.int(), Node: r.str(), Found: r.bool()}
	r.skip(n - 3)
	return m, r.done("answer")
}

// AppendUserGroups appends m's encoding to dst.
func AppendUserGroups(dst []byte, m *UserGroups) []byte {
	w := newWriter(dst)
	w.enc.EncodeArrayLen(3)
	w.enc.EncodeString(m.Node)
	w.enc.EncodeBool(m.Last)
	w.enc.EncodeArrayLen(len(m.Entries))
	for _, e := range m.Entries {
		w.enc.EncodeArrayLen(6)
		w.enc.EncodeString(e.User)
		w.enc.EncodeString(e.Group)
		w.enc.EncodeInt(e.Stamp)
		w.enc.EncodeString(e.Origin)
		w.enc.EncodeInt(e.Expires)
		w.enc.EncodeBool(e.Removed)
	}
	return w.buf.Bytes()
}

// UserGroupSize is about how many bytes an entry adds to a UserGroups
// message, to split a table into parts of a bounded size.
func UserGroupSize(e *UserGroup) int {
	return 48 + len(e.User) + len(e.Group) + len(e.Origin)
}

// ReadUserGroups decodes a UserGroups message.
func ReadUserGroups(data []byte) (*UserGroups, error) {
	r := newReader(data)
	n := r.arrayLen()
	if n < 3 {
		return nil, r.fail("user groups", n)
	}
	m := &UserGroups{Node: r.str(), Last: r.bool()}
	entries := r.arrayLen()
	if entries > 0 {
		m.Entries = make([]UserGroup, 0, min(entries, 1024))
	}
	for range entries {
		k := r.arrayLen()
		if r.err == nil && k < 6 {
			return nil, r.fail("user group entry", k)
		}
		e := UserGroup{User: r.str(), Group: r.str(), Stamp: r.int(), Origin: r.str(), Expires: r.int(), Removed: r.bool()}
		r.skip(k - 6)
		if r.err != nil {
			break
		}
		m.Entries = append(m.Entries, e)
	}
	r.skip(n - 3)
	if err := r.done("user groups"); err != nil {
		return nil, err
	}
	return m, nil
}
