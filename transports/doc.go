// Package transports is the HTTP side of SignalR for one hub: negotiate,
// the WebSocket transport, and the registry of connection tokens.
//
// A Handler answers POST <hub>/negotiate (negotiate versions 0 and 1: a
// public connection id and, from version 1, a separate secret token, 16
// random bytes each in base64url; the transports in the order clients should
// try them), and GET <hub>?id=<token> with Upgrade: websocket. The upgrade is
// done by gobwas/ws on the hijacked connection; the bytes the HTTP reader
// already buffered go first to the connection; the socket is then handed to
// netpoll and the HTTP goroutine returns, so an open WebSocket owns no
// goroutine. A request without id makes a connection with no negotiate
// (the clients' skipNegotiation). An unknown token gets 404, a token already
// in use 409, another transport's token 400, another user's token 403.
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
// connection (actors.Conn.Reattach) instead of getting 409, until the
// connection gives up after the hub's DisconnectTimeout (then 404).
//
// Server-Sent Events and long polling are not served yet: negotiate lists
// only WebSockets, and requests for the others get 404 after the usual id
// checks.
//
// # Goroutines
//
// Each Handler runs one janitor goroutine that forgets negotiated tokens no
// transport took within DisconnectTimeout, and the kept tokens of stateful
// connections that have ended; Close stops it (and the poller,
// when the handler made its own).
//
// # Example
//
//	h, _ := hub.New(Chat{}, hub.Config{})
//	handler, _ := transports.NewHandler(h, transports.Config{})
//	mux := http.NewServeMux()
//	handler.Mount(mux, "/hubs/chat")
//	http.ListenAndServe(":5000", mux)
package transports
