package main

import (
	"strings"
	"unicode/utf8"

	"github.com/actorhub/actorhub/hub"
)

// chat is the demo hub at /hubs/chat, which the page at / uses.
//
// Everyone: Send reaches every client as ReceiveMessage(user, message).
// Groups, as a client library sees them: JoinGroup, LeaveGroup and
// SendToGroup (ReceiveMessage to the group's members), WhoAmI.
// Rooms, what the chat page uses: JoinRoom(room, name) and LeaveRoom(room)
// tell the room's members UserJoined(room, name, members) and
// UserLeft(room, name, members); SendToRoom(room, message) reaches them as
// ReceiveMessage(name, message) under the name the caller joined with.
// A connection that ends leaves its rooms with the same notice.
type chat struct{}

// Limits of the rooms: a connection's rooms are kept in its Items, so they
// are bounded like everything else a client can make grow.
const (
	maxRooms       = 16 // rooms one connection may be in at once
	maxRoomNameLen = 64 // characters of a room's name
	maxUserNameLen = 32 // characters of a user's name
)

// Send reaches everyone as ReceiveMessage(user, message).
func (chat) Send(ctx *hub.Context, user, message string) error {
	return ctx.Clients.All().Send("ReceiveMessage", user, message)
}

// JoinGroup adds the caller to a group.
func (chat) JoinGroup(ctx *hub.Context, group string) error {
	return ctx.Groups.Add(ctx, ctx.ConnectionID, group)
}

// LeaveGroup removes the caller from a group.
func (chat) LeaveGroup(ctx *hub.Context, group string) error {
	return ctx.Groups.Remove(ctx, ctx.ConnectionID, group)
}

// SendToGroup reaches the group's members as ReceiveMessage(user, message).
func (chat) SendToGroup(ctx *hub.Context, group, user, message string) error {
	return ctx.Clients.Group(group).Send("ReceiveMessage", user, message)
}

// WhoAmI is the caller's user id, or null when anonymous.
func (chat) WhoAmI(ctx *hub.Context) any {
	if ctx.UserID == "" {
		return nil
	}
	return ctx.UserID
}

// rooms is what a connection's Items keep under roomsKey: room -> the name
// the caller joined it with.
type rooms map[string]string

const roomsKey = "chat.rooms"

func roomsOf(ctx *hub.Context) rooms {
	r, _ := ctx.Items()[roomsKey].(rooms)
	if r == nil {
		r = rooms{}
		ctx.Items()[roomsKey] = r
	}
	return r
}

// cleanName trims s and checks it is a usable name of at most max characters.
func cleanName(what, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", hub.Errorf("%s must not be empty", what)
	case utf8.RuneCountInString(s) > max:
		return "", hub.Errorf("%s is longer than %d characters", what, max)
	case strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return "", hub.Errorf("%s must not contain control characters", what)
	}
	return s, nil
}

// JoinRoom adds the caller to room under name and tells the room's members
// (the caller too) UserJoined(room, name, members). It returns the number
// of members, on every node. Joining a room again changes the name.
func (chat) JoinRoom(ctx *hub.Context, room, name string) (int, error) {
	room, err := cleanName("room", room, maxRoomNameLen)
	if err != nil {
		return 0, err
	}
	if name, err = cleanName("name", name, maxUserNameLen); err != nil {
		return 0, err
	}
	rs := roomsOf(ctx)
	if _, in := rs[room]; !in && len(rs) >= maxRooms {
		return 0, hub.Errorf("a connection may be in at most %d rooms", maxRooms)
	}
	if err := ctx.Groups.Add(ctx, ctx.ConnectionID, room); err != nil {
		return 0, err
	}
	rs[room] = name
	n, err := ctx.Groups.Count(ctx, room)
	if err != nil {
		return 0, err
	}
	return n, ctx.Clients.Group(room).Send("UserJoined", room, name, n)
}

// LeaveRoom takes the caller out of room and tells those left
// UserLeft(room, name, members).
func (chat) LeaveRoom(ctx *hub.Context, room string) error {
	rs := roomsOf(ctx)
	name, in := rs[room]
	if !in {
		return nil
	}
	delete(rs, room)
	if err := ctx.Groups.Remove(ctx, ctx.ConnectionID, room); err != nil {
		return err
	}
	return leftNotice(ctx, room, name)
}

// SendToRoom reaches room's members as ReceiveMessage(name, message), under
// the name the caller joined with.
func (chat) SendToRoom(ctx *hub.Context, room, message string) error {
	name, in := roomsOf(ctx)[room]
	if !in {
		return hub.Errorf("join room %q before sending to it", room)
	}
	if strings.TrimSpace(message) == "" {
		return hub.Errorf("message must not be empty")
	}
	return ctx.Clients.Group(room).Send("ReceiveMessage", name, message)
}

// OnDisconnected tells the rooms the connection was in that it left.
func (chat) OnDisconnected(ctx *hub.Context, _ error) {
	for room, name := range roomsOf(ctx) {
		_ = leftNotice(ctx, room, name)
	}
}

func leftNotice(ctx *hub.Context, room, name string) error {
	n, err := ctx.Groups.Count(ctx, room)
	if err != nil {
		return err
	}
	return ctx.Clients.Group(room).Send("UserLeft", room, name, n)
}
