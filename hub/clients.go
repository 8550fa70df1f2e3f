package hub

import (
	"errors"
	"slices"

	"github.com/actorhub/actorhub/actors"
	"github.com/actorhub/actorhub/protocol"
)

// Clients picks which clients a message goes to, from anywhere in the
// program (Hub.Clients). Hub methods use Context.Clients, which adds the
// caller's own targets.
type Clients struct{ clients }

// CallerClients is Clients seen from a hub method: it adds Caller, Others
// and OthersInGroup, and a message to a set that includes the caller reaches
// the caller before the method's own result, as in ASP.NET Core.
type CallerClients struct{ clients }

// clients holds the targets common to both.
type clients struct {
	h      *Hub
	caller *actors.Conn // nil outside a hub method
}

// Proxy is a set of clients to send to.
type Proxy struct {
	h       *Hub
	kind    targetKind
	names   []string // connection ids, group names or user ids
	exclude []string
	caller  *actors.Conn // set when sent from a hub method
}

type targetKind uint8

const (
	toAll targetKind = iota
	toConns
	toGroups
	toUsers
	toCaller
)

func (c clients) proxy(kind targetKind, names, exclude []string) Proxy {
	return Proxy{h: c.h, kind: kind, names: names, exclude: exclude, caller: c.caller}
}

// All is every connected client.
func (c clients) All() Proxy { return c.proxy(toAll, nil, nil) }

// AllExcept is every connected client but those connection ids.
func (c clients) AllExcept(ids ...string) Proxy { return c.proxy(toAll, nil, ids) }

// Client is one connection.
func (c clients) Client(id string) Proxy { return c.proxy(toConns, []string{id}, nil) }

// Clients is the given connections.
func (c clients) Clients(ids ...string) Proxy { return c.proxy(toConns, ids, nil) }

// Group is the members of a group.
func (c clients) Group(name string) Proxy { return c.proxy(toGroups, []string{name}, nil) }

// Groups is the members of any of the groups; each gets a message once.
func (c clients) Groups(names ...string) Proxy { return c.proxy(toGroups, names, nil) }

// GroupExcept is the members of a group but those connection ids.
func (c clients) GroupExcept(name string, ids ...string) Proxy {
	return c.proxy(toGroups, []string{name}, ids)
}

// User is every connection of a user.
func (c clients) User(id string) Proxy { return c.proxy(toUsers, []string{id}, nil) }

// Users is every connection of those users.
func (c clients) Users(ids ...string) Proxy { return c.proxy(toUsers, ids, nil) }

// Caller is the connection whose method is running.
func (c CallerClients) Caller() Proxy { return c.proxy(toCaller, nil, nil) }

// Others is everyone but the caller.
func (c CallerClients) Others() Proxy { return c.proxy(toAll, nil, []string{c.caller.ID}) }

// OthersInGroup is the members of a group but the caller.
func (c CallerClients) OthersInGroup(name string) Proxy {
	return c.proxy(toGroups, []string{name}, []string{c.caller.ID})
}

// Send invokes method on every client of the proxy, without waiting for
// them (a SignalR Invocation with no id). The message is encoded once per
// protocol in use, whatever the number of recipients; with a backplane it
// crosses it once per channel (the group, user or connection channel, or
// all), and each node fans it out to its own clients.
//
// Send waits only when a target group on this node is far behind: 1,024
// messages or 4 MiB handed to it and not yet fanned out to its members.
// It then waits until the group has caught up by half, so that no sender
// (a client flooding a hub method that sends to a large group, say)
// makes the server queue without bound; a hub method that sends waits the
// same way, its client's further messages wait unread, and TCP pushes back
// on that client. A recipient that falls behind by more than four times
// Config.MaxBufferedBytes is closed as a slow consumer.
//
// An error means args could not be encoded, or, with a backplane, that the
// message is too large for it (ErrMessageTooLarge: nobody got it) or that
// it could not reach the other nodes (an error wrapping
// backplane.ErrUnavailable: this node's clients got it, the others' did
// not).
func (p Proxy) Send(method string, args ...any) error {
	if args == nil {
		args = []any{}
	}
	inv := &protocol.Invocation{Target: method, Arguments: args}
	e := p.h.engine
	self := p.caller != nil && p.includesCaller()
	exclude := p.exclude
	if self && p.kind != toCaller {
		// The caller gets its copy straight away, in order with the
		// method's result; the fan-out skips it.
		exclude = append(slices.Clip(exclude), p.caller.ID)
	}
	payload := actors.NewPayload(inv, exclude...)
	if err := e.Prepare(payload); err != nil {
		return err
	}
	var out *outbound
	if s := p.h.scale; s != nil && p.kind != toCaller {
		var err error
		if out, err = s.prepare(payload, p.exclude); err != nil {
			return err
		}
	}
	if self {
		p.caller.Enqueue(payload)
	}
	var remote []string // connection ids not on this node
	switch p.kind {
	case toAll:
		e.SendAll(payload)
	case toConns:
		for _, id := range uniq(p.names) {
			if !(self && id == p.caller.ID) && !e.SendConn(id, payload) {
				remote = append(remote, id)
			}
		}
	case toGroups:
		keys := make([]string, 0, len(p.names))
		for _, g := range uniq(p.names) {
			keys = append(keys, actors.GroupKey(g))
		}
		e.SendKeys(keys, payload)
	case toUsers: // a connection has one user: no copy can arrive twice
		for _, u := range uniq(p.names) {
			e.SendKey(actors.UserKey(u), payload)
		}
	}
	if out == nil {
		return nil
	}
	return p.publish(out, remote)
}

// publish sends a message on to the other nodes, on the channels of the
// proxy's targets.
func (p Proxy) publish(out *outbound, remote []string) error {
	s := p.h.scale
	var errs []error
	switch p.kind {
	case toAll:
		errs = append(errs, out.publish(s.allChannel(), nil))
	case toConns:
		for _, id := range remote {
			errs = append(errs, out.publish(s.connChannel(id), nil))
		}
	case toGroups:
		groups := uniq(p.names)
		for i, g := range groups {
			// A member of an earlier group had it from that group's channel.
			errs = append(errs, out.publish(s.groupChannel(g), groups[:i]))
		}
	case toUsers:
		for _, u := range uniq(p.names) {
			errs = append(errs, out.publish(s.userChannel(u), nil))
		}
	}
	return errors.Join(errs...)
}

// includesCaller reports whether the caller is one of the recipients.
func (p Proxy) includesCaller() bool {
	c := p.caller
	if slices.Contains(p.exclude, c.ID) || !c.Connected() {
		return false
	}
	switch p.kind {
	case toCaller, toAll:
		return true
	case toConns:
		return slices.Contains(p.names, c.ID)
	case toGroups:
		for _, g := range p.names {
			if c.InGroup(actors.GroupKey(g)) {
				return true
			}
		}
	case toUsers:
		return c.UserID != "" && slices.Contains(p.names, c.UserID)
	}
	return false
}

func uniq(names []string) []string {
	if len(names) < 2 {
		return names
	}
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}
