package main

import "github.com/actorhub/actorhub/hub"

// chat is the demo hub at /hubs/chat.
type chat struct{}

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
