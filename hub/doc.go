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
//   - Groups, which adds connections to groups and removes them, and a
//     user's connections, now and later, with a TTL (AddUser, RemoveUser,
//     RemoveUserFromAll, HasUser);
//   - Proxy.Close and Proxy.Exists: close the clients of a proxy, or ask
//     whether it has any, on every node;
//   - NewDynamic and Dynamic, a hub whose methods are not Go methods: every
//     invocation goes to one Invoke, which may answer later (Defer);
//   - Error and Errorf, the errors whose text reaches the client, and
//     TypedError, an error that names its type in detailed errors;
//   - Connector and Disconnector, the optional OnConnected and
//     OnDisconnected hooks, and Authorizer, the optional Authorize hook that
//     decides per invocation whether the caller may run a method;
//   - Endpoint, ConnectionHandler and RawConn: raw connections, the
//     transport's bytes with no hub protocol (ASP.NET Core's
//     MapConnectionHandler), on the same Runtime as hubs;
//   - the hub context, Hub.Clients and Hub.Groups, which send and manage
//     groups from anywhere in the program, outside any hub method;
//   - scale-out: with Config.Backplane, the hubs of several processes
//     (nodes) act as one;
//   - Runtime, what hubs run on (worker pool, WebSocket poller), shared by
//     several hubs or made by each, and Stats, a hub's counters;
//   - the transport side (ConnInfo, Transport, Conn, WebSocket,
//     TransportOptions), which package transports uses to run connections.
//
// The wire protocols live in package protocol, and the HTTP side
// (negotiate, WebSockets, Server-Sent Events, long polling) in package
// transports, which serves a Hub through the hub's transport side
// (transport.go: Connect, ConnectWebSocket, Conn). The engine underneath,
// package actors, is not a public API: everything a program needs is here.
//
// Config's zero value works; its defaults are the Default constants, and
// a field New cannot take (a negative duration or size) is an error
// naming it.
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
//     numbers, bools, structs with json tags, slices, maps, pointers, any),
//     and *Stream[T] upload streams; channels, funcs and unsafe pointers
//     are refused, and so are variadic methods;
//   - returns nothing, a result, an error, or a result and an error. A
//     method that returns nothing, or only a nil error, completes with a
//     null result. A result that is a channel or an iterator makes it a
//     streaming method (see Streams).
//
// New reports a method that breaks these rules, or two methods whose names
// differ only in letter case: clients call methods by name in any case, as
// ASP.NET Core matches them.
//
// A connection's invocations run one at a time, in the order the client
// sent them (ASP.NET Core's MaximumParallelInvocationsPerClient = 1), so a
// method may read and write Context.Items() without locking. Invocations of
// different connections run in parallel: state shared between connections,
// in the hub value or elsewhere, needs its own synchronization.
//
// # Streams
//
// A method that returns a receive-only channel <-chan T, an iter.Seq[T] or
// an iter.Seq2[T, error] (optionally followed by an error) is a streaming
// method: clients call it with stream() (a StreamInvocation). The method
// runs in its connection's turn and returns the stream; a goroutine of the
// hub, one per active stream, sends its items in order and then the
// Completion. The Context's context.Context is cancelled when the client
// cancels the stream (CancelInvocation), when the connection ends, and
// when the stream ends; producers should watch it. A producer runs at most
// 16 items ahead of the connection's actor; past that it waits. An error
// (from iter.Seq2, or a panic) ends the stream with "An error occurred on
// the server while streaming results." (+ " HubException: msg" for an
// *Error). An error the method returns before it has a stream fails the
// invocation like a plain method's ("An unexpected error occurred invoking
// 'X' on the server."). A cancelled stream still completes, without an
// error.
//
// A parameter of type *Stream[T] is an upload stream: the client sends its
// items after the invocation (a Subject in the JavaScript client), and the
// method reads them with Next or All, and Err once they end. Items that
// arrive before the method reads them wait in the stream; the connection's
// reader never waits (see Stream for the bound). When the method returns,
// its upload streams close and later items are ignored.
//
// # Client results
//
// Proxy.Invoke and InvokeClient invoke a method on one client (Caller or
// Client(id)) and wait for its result, as ASP.NET Core's client results.
// The answer is routed to the waiting method as the connection reads it,
// so a hub method may ask its own caller; meanwhile that connection's other
// invocations wait (one at a time), and the pool gives the waiting turn's
// worker to other connections.
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
// with errors.As, so it may be wrapped) shows its message, and so does the
// error of an upload stream the client failed (Stream.Err, a
// *ClientError: "HubException: <the client's text>", as ASP.NET completes
// the stream with a HubException); any other error stays on the server
// unless Config.EnableDetailedErrors is set, which appends
// " <Type>: <message>" (the name a TypedError or other TypeNamer chooses,
// as "InvalidOperationException"; else the Go type name, or "Error" for
// unexported types) and, for bad arguments,
// " InvalidDataException: <reason>". A
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
// A Hub runs on a Runtime: its own, or Config.Runtime when several hubs
// share one. The runtime's poller reads and writes the WebSockets (no
// goroutine waits on a socket), and each connection is an actor,
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
// Hub.Shutdown closes every connection, waits for them to end and for
// every goroutine the hub started (those that send streams, the presence
// reports, and, with a backplane, those that wait for another node's
// request or a new connection's subscriptions: no ack or result goes out
// after it returns), and stops the runtime when the hub started it.
//
// # Several nodes
//
// With Config.Backplane (package backplane: Redis, PostgreSQL or NATS,
// or an in-process broker for tests), every node of a hub that uses the same backplane and
// Config.Name is one hub. Every target of Clients reaches its clients on
// every node; Groups.Add and Remove work on a connection of any node (the
// node that holds it makes the change and acknowledges it); Proxy.Invoke
// asks a client on any node; Groups.Count and Hub.ConnectionCount add up
// every live node. A send is encoded once per protocol where it is made
// and crosses the backplane once per channel; each node fans it out to its
// own clients. A node subscribes to a group's or user's channel only while
// it has a member, and to a connection's channel while the connection
// lives; a new connection's handshake is answered once its subscriptions
// are in effect, so a send from any node made after that reaches it.
//
// When the backplane is unreachable, each node keeps serving its own
// clients, and a send that must cross fails at once with an error wrapping
// backplane.ErrUnavailable (its local recipients got it); a send that
// the backplane accepted and then failed to deliver is logged and counted
// by the backplane (backplane.Stats). A message larger
// than Config.MaxBackplaneMessageSize is refused before anyone gets it
// (ErrMessageTooLarge).
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
