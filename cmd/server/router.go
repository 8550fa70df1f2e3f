package main

import (
	"net/http"
	"strings"
)

// router routes the server's requests with ASP.NET Core's manners: a path
// matches its route in any letter case (routes are registered in lower
// case; the values of wildcards keep the request's case), and a path with
// no route gets 404 with no body.
type router struct {
	mux    *http.ServeMux                  // the routes
	around func(http.Handler) http.Handler // middleware in front of them, or nil
}

func (rt router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := rt.mux.Handler(r); pattern != "" {
		rt.wrap(rt.mux).ServeHTTP(w, r)
		return
	}
	if lower := strings.ToLower(r.URL.Path); lower != r.URL.Path {
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path, u.RawPath = lower, ""
		r2.URL = &u
		if h, pattern := rt.mux.Handler(r2); pattern != "" {
			// The route's handler itself: the mux would match the lower
			// case path again and lose the wildcards' case.
			keepWildcards(r2, pattern, r.URL.Path)
			rt.wrap(h).ServeHTTP(w, r2)
			return
		}
	}
	if rt.otherMethod(r) {
		rt.wrap(rt.mux).ServeHTTP(w, r) // the mux answers 405 with Allow
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNotFound)
}

// otherMethod reports whether r's path has a route for another method: the
// request then gets 405, not 404.
func (rt router) otherMethod(r *http.Request) bool {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		if m == r.Method {
			continue
		}
		r2 := *r
		r2.Method = m
		if _, pattern := rt.mux.Handler(&r2); pattern != "" {
			return true
		}
	}
	return false
}

func (rt router) wrap(h http.Handler) http.Handler {
	if rt.around == nil {
		return h
	}
	return rt.around(h)
}

// keepWildcards sets the values of pattern's {wildcards} from the path as
// the client sent it, in its own letter case.
func keepWildcards(r *http.Request, pattern, path string) {
	if _, p, found := strings.Cut(pattern, " "); found { // a method comes first
		pattern = p
	}
	ps, vs := strings.Split(pattern, "/"), strings.Split(path, "/")
	for i, seg := range ps {
		if i >= len(vs) || !strings.HasPrefix(seg, "{") || !strings.HasSuffix(seg, "}") {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(seg, "{"), "}")
		if n, rest := strings.CutSuffix(name, "..."); rest {
			r.SetPathValue(n, strings.Join(vs[i:], "/"))
			continue
		}
		r.SetPathValue(name, vs[i])
	}
}
