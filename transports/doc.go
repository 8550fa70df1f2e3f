// Package transports is the HTTP side of SignalR for one hub: negotiate,
// the WebSocket, Server-Sent Events and long polling transports, and the
// registry of connection tokens.
//
// It talks to package hub only, through what a Handler needs of what it
// serves (Hub.Connect, Hub.ConnectWebSocket, Hub.TransportOptions and the
// hub.Conn handle): it never reaches the engine below the hub. The hub's
// settings that the transports apply are hub.Config's (DisconnectTimeout,
// MaxTransportMessageSize, AllowStatefulReconnects); Config holds the HTTP
// side's own.
//
// A Handler answers POST <hub>/negotiate (negotiate versions 0 and 1: a
// public connection id and, from version 1, a separate secret token, 16
// random bytes each in base64url; the transports served, in the order
// clients should try them: WebSockets, ServerSentEvents, LongPolling), and
// the requests of each transport on <hub>?id=<token>. An unknown token gets
// 404, a token already in use by the same transport 409, another
// transport's token 400, another user's token 403, a transport turned off
// in Config.Transports 404.
//
// WebSockets: GET with Upgrade: websocket. The upgrade is done by gobwas/ws
// on the hijacked connection; the bytes the HTTP reader already buffered go
// first to the connection; the socket is then handed to the hub's runtime
// (its epoll poller reads and writes it) and the HTTP goroutine returns, so
// an open WebSocket owns no goroutine. A WebSocket message larger than the
// hub's MaxTransportMessageSize closes the connection with 1009. A request
// without id makes a connection with no negotiate (skipNegotiation).
//
// Server-Sent Events: GET with Accept: text/event-stream. The request's
// goroutine owns the response: the connection actor queues its frames
// (Buffered reports them, so the slow-consumer budget applies) and wakes it;
// each wake-up writes everything queued as one event ("data: ...\r\n\r\n")
// and flushes. Text only: a binary protocol's handshake is refused.
//
// Long polling: any other GET. The first poll makes the connection and
// returns 200 empty at once; later polls wait (up to LongPollTimeout) and
// carry every queued message; a newer poll makes the pending one return 204;
// after the connection ends the next poll gets what is left, then 204.
// Between polls nothing runs for a connection; the janitor closes one that
// is not polled within the hub's DisconnectTimeout. DELETE ends it (202).
//
// POST <hub>?id=<token> is the send half of SSE and long polling: the body
// (one or more hub messages, at most the hub's MaxTransportMessageSize, else
// 413 and the connection closes) goes to the connection; POSTs to one
// connection run one at a time.
//
// NewConnectionHandler serves a hub.Endpoint of raw connections the same
// way (negotiate, every transport, WebSockets without negotiate, origins,
// authentication), with no handshake and no hub framing: a WebSocket
// message, or a POST body, goes to the endpoint's ConnectionHandler as it
// is, and what it writes goes out as WebSocket messages, events or poll
// answers.
//
// Browser origins (Config.AllowedOrigins): a request whose Origin header is
// neither the server's own origin nor an allowed one gets 403 before
// anything is made for it (the WebSocket upgrade, negotiate, every request
// of the HTTP transports); allowed cross-origin requests get the CORS
// headers with credentials, and their preflights 204. Requests without
// Origin, from clients other than browsers, are not affected. See cors.go.
// Errors are answered as ASP.NET Core does: text/plain, its texts, no
// trailing newline, and an empty 401.
//
// An Authenticator, when configured, resolves the user from the bearer token
// of the Authorization header or the access_token query string on every
// request; a refused token gets 401 with "WWW-Authenticate: Bearer", and so
// does a request without a user when Config.RequireAuthentication is set.
// NewJWTAuthenticator makes one for JWTs (HS256 and RS256 families, exp,
// nbf, iss, aud); its claims reach hub code as hub.Context.Claims.
//
// Stateful reconnect (Config of the hub: AllowStatefulReconnects): negotiate
// replies "useStatefulReconnect":true only when the query asks for it and
// the hub allows it. When such a WebSocket drops without a close handshake,
// its token stays; a new WebSocket with the same ?id= is handed to the same
// connection (hub.Conn.ReattachWebSocket) instead of getting 409, until the
// connection gives up after the hub's DisconnectTimeout (then 404).
//
// # Goroutines
//
// Each Handler runs one janitor goroutine that forgets negotiated tokens no
// transport took within the hub's DisconnectTimeout and closes long polling
// connections nobody polls, and the kept tokens of stateful connections
// that have ended; Close stops it and ends the long polling connections and
// the SSE streams left. WebSockets belong to the hub's runtime, which
// Hub.Shutdown and Runtime.Close end. An SSE stream and a pending poll run
// on their HTTP request's goroutine, which returns when the connection or
// the client ends.
//
// # Example
//
//	h, _ := hub.New(Chat{}, hub.Config{})
//	handler, _ := transports.NewHandler(h, transports.Config{})
//	mux := http.NewServeMux()
//	handler.Mount(mux, "/hubs/chat")
//	http.ListenAndServe(":5000", mux)
package transports
