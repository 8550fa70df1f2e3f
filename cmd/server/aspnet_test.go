package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
)

// startSuite serves the ASP.NET suite's routes behind the server's router
// on a loopback server and returns its base URL.
func startSuite(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	var hubs []*mounted
	newHub := func(name string, impl any, cfg hub.Config) (*mounted, error) {
		cfg.Name = name
		h, err := hub.New(impl, cfg)
		if err != nil {
			return nil, err
		}
		m := &mounted{name: name, hub: h}
		hubs = append(hubs, m)
		return m, nil
	}
	newEndpoint := func(name string, app hub.ConnectionHandler, cfg hub.EndpointConfig) (*mounted, error) {
		e, err := hub.NewEndpoint(app, cfg)
		if err != nil {
			return nil, err
		}
		m := &mounted{name: name, endpoint: e}
		hubs = append(hubs, m)
		return m, nil
	}
	serve := func(m *mounted, path string, tc transports.Config) error {
		var hd *transports.Handler
		var err error
		if m.endpoint != nil {
			hd, err = transports.NewConnectionHandler(m.endpoint, tc)
		} else {
			hd, err = transports.NewHandler(m.hub, tc)
		}
		if err != nil {
			return err
		}
		hd.Mount(mux, path)
		m.handlers = append(m.handlers, hd)
		return nil
	}
	around, err := mountASPNETSuite(mux, hub.Config{}, mounter{newHub, newEndpoint, serve})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(router{mux, around})
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, m := range hubs {
			_ = m.shutdown(ctx)
			for _, hd := range m.handlers {
				_ = hd.Close()
			}
		}
	})
	return srv.URL + aspnetBase
}

func request(t *testing.T, method, u string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestRouterAnyCaseAndEmpty404(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/things/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.PathValue("id")) })
	srv := httptest.NewServer(router{mux: mux})
	defer srv.Close()
	for path, want := range map[string]string{"/things/AbC": "AbC", "/THINGS/AbC": "AbC", "/Things/x": "x"} {
		if resp, body := request(t, http.MethodGet, srv.URL+path, nil); resp.StatusCode != http.StatusOK || body != want {
			t.Errorf("GET %s: %d %q, want 200 %q", path, resp.StatusCode, body, want)
		}
	}
	resp, body := request(t, http.MethodGet, srv.URL+"/nothing/here", nil)
	if resp.StatusCode != http.StatusNotFound || body != "" {
		t.Fatalf("unknown path: %d %q, want 404 with no body", resp.StatusCode, body)
	}
}

func TestASPNETSuiteRoutes(t *testing.T) {
	base := startSuite(t)

	// Negotiate, in any letter case, sets the suite's cookies.
	resp, body := request(t, http.MethodPost, base+"/testHub/negotiate?negotiateVersion=1", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"connectionToken"`) {
		t.Fatalf("negotiate /testHub: %d %s", resp.StatusCode, body)
	}
	cookies := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		cookies[c.Name] = c
	}
	if cookies["testCookie"].Value != "testValue" || cookies["testCookie2"].Value != "testValue2" || !cookies["expiredCookie"].Expires.Before(time.Now()) {
		t.Fatalf("negotiate cookies: %v", resp.Header.Values("Set-Cookie"))
	}

	// The hub without WebSockets offers the two others.
	_, body = request(t, http.MethodPost, base+"/testhub-nowebsockets/negotiate?negotiateVersion=1", nil)
	if strings.Contains(body, "WebSockets") || !strings.Contains(body, "LongPolling") {
		t.Fatalf("testhub-nowebsockets negotiate: %s", body)
	}

	// Every redirect counts.
	for n := 1; n <= 2; n++ {
		resp, body := request(t, http.MethodPost, base+"/redirect/negotiate?numRedirects=0&baseUrl=http://b/x&negotiateVersion=1", nil)
		var r struct{ URL string }
		if err := json.Unmarshal([]byte(body), &r); err != nil || resp.StatusCode != http.StatusOK || r.URL != "http://b/x/testHub?numRedirects="+string(rune('0'+n)) {
			t.Fatalf("redirect %d: %d %s", n, resp.StatusCode, body)
		}
	}

	// AuthorizedHub: 401 with no body and a Bearer challenge without a
	// token, 200 with one from /generateJwtToken.
	resp, body = request(t, http.MethodPost, base+"/authorizedhub/negotiate?negotiateVersion=1", nil)
	if resp.StatusCode != http.StatusUnauthorized || body != "" || resp.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Fatalf("authorizedhub without a token: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	_, token := request(t, http.MethodGet, base+"/generateJwtToken", nil)
	if strings.Count(token, ".") != 2 {
		t.Fatalf("generateJwtToken: %q", token)
	}
	resp, body = request(t, http.MethodPost, base+"/authorizedhub/negotiate?negotiateVersion=1", http.Header{"Authorization": {"Bearer " + token}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("authorizedhub with a token: %d %s", resp.StatusCode, body)
	}
	resp, _ = request(t, http.MethodPost, base+"/authorizedhub/negotiate?negotiateVersion=1", http.Header{"Authorization": {"Bearer " + token + "x"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("authorizedhub with a forged token: %d", resp.StatusCode)
	}

	// A client result of a connection that does not exist.
	if _, body := request(t, http.MethodGet, base+"/clientresult/NoSuchId", nil); body != "Connection 'NoSuchId' does not exist." {
		t.Fatalf("clientresult of an unknown id: %q", body)
	}
}
