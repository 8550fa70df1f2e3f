// Package hub is the Go API for writing SignalR hubs: the methods that
// clients call, and the ways a program talks back to its clients.
//
// It owns
//
//   - New and Config, which turn a Go value into a running Hub;
//   - Context, what a hub method knows about its caller (connection id, user
//     id, token claims, per-connection Items), with Abort, CloseWithError
//     and Drop;
//   - Clients, CallerClients and Proxy, which pick the clients a message goes
//     to (All, AllExcept, Client, Clients, Group, Groups, GroupExcept, User,
//     Users, and from a hub method also Caller, Others and OthersInGroup) and
//     send it;
//   - Groups, which adds connections to groups and removes them;
//   - Error and Errorf, the errors whose text reaches the client;
//   - Connector and Disconnector, the optional OnConnected and
//     OnDisconnected hooks, and Authorizer, the optional Authorize hook that
//     decides per invocation whether the caller may run a method;
//   - the hub context, Hub.Clients and Hub.Groups, which send and manage
//     groups from anywhere in the program, outside any hub method.
//
// The wire protocols live in package hub/protocol, the actors that run
// connections and groups in package actors, and the HTTP side (negotiate,
// WebSockets) in package transports, which serves a Hub.
//
// # Hub methods
//
// Every exported method of the value given to New is a hub method, except
// OnConnected, OnDisconnected, and Authorize when the value is an
// Authorizer. A method
//
//   - may take a *Context as its first parameter, and nowhere else (not a
//     context.Context: *Context is one);
//   - then takes any parameters the protocol can decode into (strings,
//     numbers, bools, structs with json tags, slices, maps, pointers, any);
//     channels, funcs and unsafe pointers are refused, and so are variadic
//     methods;
//   - returns nothing, a result, an error, or a result and an error. A
//     method that returns nothing, or only a nil error, completes with a
//     null result.
//
// New reports a method that breaks these rules, or two methods whose names
// differ only in letter case: clients call methods by name in any case, as
// ASP.NET Core matches them.
//
// A connection's invocations run one at a time, in the order the client
// sent them (ASP.NET Core's MaximumParallelInvocationsPerClient = 1), so a
// method may read and write Context.Items without locking. Invocations of
// different connections run in parallel: state shared between connections,
// in the hub value or elsewhere, needs its own synchronization.
//
// # Errors clients see
//
// A failed invocation completes with the texts of ASP.NET Core SignalR,
// which clients and their tests rely on:
//
//	unknown method       Failed to invoke 'X' due to an error on the server. HubException: Method does not exist.
//	bad arguments        Failed to invoke 'X' due to an error on the server.
//	method error         An unexpected error occurred invoking 'X' on the server.
//	*Error "boom"        An unexpected error occurred invoking 'X' on the server. HubException: boom
//	refused by Authorize Failed to invoke 'X' because user is unauthorized
//
// where X is the method name as the client sent it. Only an *Error (found
// with errors.As, so it may be wrapped) shows its message; any other error
// stays on the server unless Config.EnableDetailedErrors is set, which
// appends " <Type>: <message>" (the Go type name, or "Error" for unexported
// types) and, for bad arguments, " InvalidDataException: <reason>". A
// method that panics is recovered and fails like one that returned an
// error; the connection and its next invocations go on. A streaming
// invocation of a method gets "The client attempted to invoke the
// non-streaming 'X' method with a streaming invocation."; an invocation
// with no id never gets an answer, not even an error.
//
// An error from OnConnected ends the connection with a Close message that
// forbids reconnecting. Context.Abort does the same from a hub method;
// Hub.Shutdown sends every client a Close that allows reconnecting.
//
// # Goroutines
//
// A Hub runs on an actor runtime (actors.System): its own, or
// Config.System when several hubs share one. Each connection is an actor,
// and hub code (a hub method, OnConnected, OnDisconnected) runs in that
// actor's turn on a worker of the runtime's pool, never on a goroutine of
// its own and never on the transport's. Hub code may block (Groups.Add
// waits for the membership to take effect, a method may call a database):
// the pool adds a worker when blocked turns would starve the others. But a
// long block delays that connection's every message, keep-alives included,
// so hand long work to a goroutine of your own and send the outcome with
// the hub context.
//
// A message sent from a hub method to a set of clients that includes the
// caller reaches the caller before the method's own Completion, as in
// ASP.NET Core. Proxy.Send never waits for clients: it encodes the message
// once per protocol in use and hands it to the actors of the recipients.
// Hub.Clients and Hub.Groups are safe from any goroutine; a Context is valid
// during its call only.
//
// Hub.Shutdown closes every connection, waits for them to end, and stops
// the runtime when the hub started it.
//
// # Example
//
//	type Chat struct{}
//
//	func (Chat) Send(ctx *hub.Context, user, message string) error {
//		return ctx.Clients.All().Send("ReceiveMessage", user, message)
//	}
//
//	func (Chat) Join(ctx *hub.Context, room string) error {
//		if room == "" {
//			return hub.Errorf("a room needs a name")
//		}
//		return ctx.Groups.Add(ctx, ctx.ConnectionID, room)
//	}
//
//	func main() {
//		h, err := hub.New(Chat{}, hub.Config{})
//		if err != nil {
//			log.Fatal(err)
//		}
//		handler, err := transports.NewHandler(h, transports.Config{})
//		if err != nil {
//			log.Fatal(err)
//		}
//		mux := http.NewServeMux()
//		handler.Mount(mux, "/hubs/chat")
//		go func() {
//			for range time.Tick(time.Minute) {
//				h.Clients().All().Send("ReceiveMessage", "clock", time.Now().Format(time.Kitchen))
//			}
//		}()
//		log.Fatal(http.ListenAndServe(":8080", mux))
//	}
package hub
