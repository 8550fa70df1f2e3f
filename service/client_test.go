package service_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/actorhub/actorhub/service"
	"github.com/golang-jwt/jwt/v5"
)

// An app server answers its negotiate with a redirect to actorhub; the
// client that follows it connects as the user the token names, with its
// claims.
func TestNegotiateRedirect(t *testing.T) {
	n := startNode(t, nil, "")
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirect, err := n.key.Negotiate(n.url, "chat", "alice", map[string]any{"role": []string{"admin", "ops"}, "exp": "own exp", "asrs.s.extra": "x"}, time.Minute)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(redirect)
	}))
	defer app.Close()

	status, body := call(t, http.MethodPost, app.URL+"/negotiate?negotiateVersion=1", "", "")
	if status != http.StatusOK {
		t.Fatalf("app negotiate: %d %s", status, body)
	}
	var redirect service.NegotiateResponse
	if err := json.Unmarshal([]byte(body), &redirect); err != nil {
		t.Fatal(err)
	}
	if redirect.URL != n.url+"/client/?hub=chat" || redirect.AccessToken == "" {
		t.Fatalf("redirect: %+v", redirect)
	}
	c := connect(t, redirect.URL, redirect.AccessToken)
	done := c.invoke("1", "WhoAmI")
	var who struct {
		User   string         `json:"user"`
		Claims map[string]any `json:"claims"`
	}
	if err := json.Unmarshal(done["result"], &who); err != nil {
		t.Fatalf("%v: %s", err, done["result"])
	}
	if who.User != "alice" || who.Claims["exp"] != "own exp" || len(who.Claims["role"].([]any)) != 2 {
		t.Fatalf("WhoAmI: %+v", who)
	}
	for _, name := range []string{"aud", "iat", "nbf", "asrs.s.uid", "asrs.s.extra"} {
		if _, ok := who.Claims[name]; ok {
			t.Errorf("the claims have %s: %v", name, who.Claims)
		}
	}
	// The REST API sees the user.
	n.expect(t, http.StatusOK, http.MethodHead, api("/users/alice"), "")

	// What is refused: no token, another hub's, another key's, an expired
	// one; an unknown hub.
	other, err := service.NewAccessKey("another-key-0123456789-abcdefghijklmnop")
	if err != nil {
		t.Fatal(err)
	}
	tokenFor := func(k *service.AccessKey, aud string, ttl time.Duration) string {
		tok, err := k.Token(aud, ttl, map[string]any{service.ClaimUserID: "mallory"})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	expired, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"aud": n.url + "/client/?hub=chat", "exp": time.Now().Add(-time.Second).Unix(), service.ClaimUserID: "mallory",
	}).SignedString([]byte(testKey))
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{
		"none":          "",
		"another hub":   tokenFor(n.key, n.url+"/client/?hub=other", time.Minute),
		"no hub":        tokenFor(n.key, n.url+"/client/", time.Minute),
		"another path":  tokenFor(n.key, n.url+"/api/hubs/chat/:send", time.Minute),
		"another key":   tokenFor(other, n.url+"/client/?hub=chat", time.Minute),
		"expired":       expired,
		"REST audience": tokenFor(n.key, n.url+"/client/negotiate?hub=chat&x", time.Minute),
	} {
		if c, status := tryConnect(t, n.url+"/client/?hub=chat", tok); c != nil || status != http.StatusUnauthorized {
			t.Errorf("%s: connected %v, status %d", name, c != nil, status)
		}
	}
	if _, status := tryConnect(t, n.url+"/client/?hub=nohub", tokenFor(n.key, n.url+"/client/?hub=nohub", time.Minute)); status != http.StatusNotFound {
		t.Errorf("unknown hub: %d", status)
	}
	// A token may name no user: the client is anonymous.
	anon, err := n.key.Negotiate(n.url, "chat", "", nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ac := connect(t, anon.URL, anon.AccessToken)
	if done := ac.invoke("1", "WhoAmI"); string(done["result"]) != `{"claims":{},"user":""}` {
		t.Errorf("anonymous: %s", done["result"])
	}
	// A token whose hub differs only in letter case, as Azure lower-cases hubs.
	if c, status := tryConnect(t, n.url+"/client/?hub=Chat", tokenFor(n.key, n.url+"/client/?hub=chat", time.Minute)); c == nil {
		t.Errorf("hub in another case: %d", status)
	}
}
