// Package service makes actorhub a self-hosted service that speaks Azure
// SignalR Service's data plane, so that applications written for Azure's
// "serverless" mode drive it unchanged (the contract is
// docs/service-api.md):
//
//   - API serves the REST API (version 2022-06-01) at /api/: sends to all,
//     connections, users and groups; group and user group membership;
//     closes; existence checks. It acts on every node of a hub through the
//     hub package (Proxy.Send, Proxy.Close, Proxy.Exists, Groups), so it
//     works on any backplane.
//   - AccessKey is the shared secret: it checks the REST API's bearer
//     tokens, mints the negotiate redirects of application servers
//     (Negotiate: {"url", "accessToken"}), checks the tokens of the clients
//     that follow them (ClientAuthenticator) and signs upstream requests.
//   - ClientRouter serves /client/?hub=<hub>, where redirected clients
//     connect: each hub's transports.Handler made with the
//     ClientAuthenticator.
//   - Upstream is a hub with no Go code (hub.NewDynamic): its clients'
//     connected and disconnected events and invocations are POSTed to an
//     HTTP backend, whose answers become the invocations' results.
//
// The package sits beside transports: it uses the hub package only (and
// the protocol codecs to read upstream answers).
//
// Goroutines: an API and a ClientRouter own none (they run in the HTTP
// server's). An Upstream owns its workers and its retry timers, from
// NewUpstream to Close.
//
// An application server (any language) sends its clients to actorhub by
// answering its own negotiate with a redirect; in Go:
//
//	key, _ := service.NewAccessKey(os.Getenv("ACTORHUB_ACCESS_KEY"))
//	http.HandleFunc("POST /chat/negotiate", func(w http.ResponseWriter, r *http.Request) {
//		redirect, err := key.Negotiate("https://rt.example.com", "chat", userOf(r), nil, time.Hour)
//		if err != nil {
//			http.Error(w, "no", http.StatusInternalServerError)
//			return
//		}
//		json.NewEncoder(w).Encode(redirect)
//	})
package service
