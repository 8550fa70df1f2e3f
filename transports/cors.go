package transports

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Browser origins (Config.AllowedOrigins), as ASP.NET Core's CORS policy
// with credentials and WebSocketOptions.AllowedOrigins do together.
//
// A browser puts the page's origin in the Origin header of every WebSocket
// upgrade and of every cross-origin request. Other clients (the SignalR
// clients on Node, .NET, Java, ...) send none and are not affected: the
// check keeps other sites' pages from using a visitor's cookies on this
// server (cross-site WebSocket hijacking) while letting the listed sites'
// pages connect.
//
// A request whose Origin is not allowed gets 403 before anything is made for
// it (no connection token, no connection). An allowed one gets
// Access-Control-Allow-Origin (its own origin), Access-Control-Allow-
// Credentials: true (the JavaScript client sends cookies by default, and a
// browser refuses "*" with credentials) and, as every response of the
// handler, Vary: Origin. A preflight (OPTIONS with
// Access-Control-Request-Method) of an allowed origin gets 204 with the
// methods (GET, POST, DELETE), the headers (those the SignalR clients send
// and Config.AllowedHeaders) and a max-age of preflightMaxAge; a refused
// one gets 403.
//
// The server's own origin is always allowed: the Origin's scheme and host
// (with port) equal the request's, which are the Host header and the
// connection's scheme, or X-Forwarded-Host and X-Forwarded-Proto when a
// proxy in front sets them. Trusting those headers opens nothing: a page
// can make a browser send them only on a request with custom headers,
// which the browser first preflights (and the preflight, which carries
// none of them, is judged on the real Host), and WebSocket and EventSource
// requests cannot carry custom headers at all; a client that is not a
// browser can forge them, but it can as well send no Origin.

// preflightMaxAge is how long browsers may cache a preflight's answer
// (Access-Control-Max-Age; browsers cap it at 2 h or more).
const preflightMaxAge = 600 // seconds

// corsMethods are the methods of the SignalR HTTP protocol.
const corsMethods = "GET, POST, DELETE"

// clientHeaders are the request headers the SignalR clients send that are
// not CORS-safelisted: the access token, the body type of a binary POST
// (application/octet-stream), the header ASP.NET uses to tell XHR from
// navigation, and the browser client's user agent.
var clientHeaders = []string{"Authorization", "Content-Type", "X-Requested-With", "X-SignalR-User-Agent"}

// originPolicy decides which origins may use a handler.
type originPolicy struct {
	any      bool            // "*": every origin but the opaque "null"
	exact    map[string]bool // normalized origins ("null" when listed)
	wildcard []wildcardOrigin
	headers  string // Access-Control-Allow-Headers of a preflight
}

// wildcardOrigin is "scheme://*.suffix": any subdomain of suffix.
type wildcardOrigin struct {
	scheme string // "https"
	suffix string // ".example.com" or ".example.com:8443"
}

// newOriginPolicy checks Config.AllowedOrigins and Config.AllowedHeaders.
func newOriginPolicy(origins, headers []string) (*originPolicy, error) {
	p := &originPolicy{exact: make(map[string]bool)}
	for i, o := range origins {
		o = strings.TrimSpace(o)
		switch {
		case o == "*":
			p.any = true
			continue
		case strings.EqualFold(o, "null"):
			p.exact["null"] = true
			continue
		}
		scheme, host, ok := splitOrigin(o)
		if !ok {
			return nil, fmt.Errorf("transports: Config.AllowedOrigins[%d] %q is not an origin (scheme://host[:port], https://*.example.com, * or null)", i, o)
		}
		if rest, ok := strings.CutPrefix(host, "*."); ok {
			if rest == "" || strings.Contains(rest, "*") {
				return nil, fmt.Errorf("transports: Config.AllowedOrigins[%d] %q: a wildcard stands for subdomains only, as https://*.example.com", i, o)
			}
			p.wildcard = append(p.wildcard, wildcardOrigin{scheme: scheme, suffix: "." + rest})
			continue
		}
		if strings.Contains(host, "*") {
			return nil, fmt.Errorf("transports: Config.AllowedOrigins[%d] %q: a wildcard stands for subdomains only, as https://*.example.com", i, o)
		}
		p.exact[scheme+"://"+host] = true
	}
	allowed := append([]string(nil), clientHeaders...)
	for i, h := range headers {
		h = strings.TrimSpace(h)
		if h == "" || strings.ContainsAny(h, " ,:\t\r\n") {
			return nil, fmt.Errorf("transports: Config.AllowedHeaders[%d] %q is not a header name", i, h)
		}
		allowed = append(allowed, http.CanonicalHeaderKey(h))
	}
	p.headers = strings.Join(allowed, ", ")
	return p, nil
}

// admit applies the policy to a request. It reports whether the request
// goes on; when it does not, it has been answered: 403 for an origin that
// is not allowed, 204 for a preflight.
func (p *originPolicy) admit(w http.ResponseWriter, r *http.Request) bool {
	hd := w.Header()
	hd.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser, or a same-origin GET of an old one
	}
	if !p.allows(origin, r) {
		plainText(w, http.StatusForbidden, "")
		return false
	}
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Set("Access-Control-Allow-Credentials", "true")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		hd.Set("Access-Control-Allow-Methods", corsMethods)
		hd.Set("Access-Control-Allow-Headers", p.headers)
		hd.Set("Access-Control-Max-Age", strconv.Itoa(preflightMaxAge))
		w.WriteHeader(http.StatusNoContent)
		return false
	}
	return true
}

// allows reports whether origin may use the handler for request r.
func (p *originPolicy) allows(origin string, r *http.Request) bool {
	if strings.EqualFold(origin, "null") {
		return p.exact["null"]
	}
	scheme, host, ok := splitOrigin(origin)
	if !ok {
		return false
	}
	if p.any || p.exact[scheme+"://"+host] {
		return true
	}
	for _, wc := range p.wildcard {
		if scheme == wc.scheme && len(host) > len(wc.suffix) && strings.HasSuffix(host, wc.suffix) {
			return true
		}
	}
	rs, rh, ok := requestOrigin(r)
	return ok && scheme == rs && host == rh
}

// requestOrigin is the scheme and host the client used to reach the
// server: the Host header and the connection's scheme, or those a proxy in
// front reports in X-Forwarded-Host and X-Forwarded-Proto (the first value
// of a list: the client-facing one). See the comment at the top of the file
// for why trusting them is safe.
func requestOrigin(r *http.Request) (scheme, host string, ok bool) {
	scheme = "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if v := firstValue(r.Header.Get("X-Forwarded-Proto")); v != "" {
		scheme = v
	}
	host = r.Host
	if v := firstValue(r.Header.Get("X-Forwarded-Host")); v != "" {
		host = v
	}
	return splitOrigin(scheme + "://" + host)
}

func firstValue(list string) string {
	v, _, _ := strings.Cut(list, ",")
	return strings.TrimSpace(v)
}

// splitOrigin parses "scheme://host[:port]" into its lower-case scheme and
// host, without the scheme's default port (so http://a and http://a:80 are
// one origin). Anything with a path, query, fragment or user is refused.
func splitOrigin(s string) (scheme, host string, ok bool) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", "", false
	}
	scheme, host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if h, port, found := strings.Cut(host, ":"); found && !strings.HasPrefix(host, "[") {
		if port == defaultPort(scheme) {
			host = h
		}
	} else if strings.HasPrefix(host, "[") {
		if i := strings.LastIndex(host, "]:"); i >= 0 && host[i+2:] == defaultPort(scheme) {
			host = host[:i+1]
		}
	}
	return scheme, host, true
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http", "ws":
		return "80"
	case "https", "wss":
		return "443"
	}
	return ""
}

// plainText answers status with text as a text/plain body, as ASP.NET Core
// writes its transport errors: no trailing newline, and no body at all
// when text is empty.
func plainText(w http.ResponseWriter, status int, text string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/plain")
	if status != http.StatusNoContent {
		hd.Set("Content-Length", strconv.Itoa(len(text)))
	}
	w.WriteHeader(status)
	if text != "" {
		_, _ = w.Write([]byte(text))
	}
}
