package service_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/golang-jwt/jwt/v5"
)

// settle sends a mark to every client directly and waits for it: whatever
// a connection was sent before has reached it (one connection's messages
// from one node arrive in order).
func settle(t *testing.T, n *node, mark string, clients ...*client) {
	t.Helper()
	for _, c := range clients {
		n.expect(t, http.StatusAccepted, http.MethodPost, api("/connections/"+c.id+"/:send"), `{"target":"Mark","arguments":["`+mark+`"]}`)
		c.waitGot("Mark", `["`+mark+`"]`)
	}
}

// Sends reach exactly their targets, with the arguments as sent.
func TestRESTSends(t *testing.T) {
	n := startNode(t, nil, "")
	alice := connect(t, n.url+"/hubs/chat", "test:alice")
	bob := connect(t, n.url+"/hubs/chat", "test:bob")
	anon := connect(t, n.url+"/hubs/chat", "")
	all := []*client{alice, bob, anon}

	n.expect(t, http.StatusAccepted, http.MethodPost, api("/:send"), `{"target":"Msg","arguments":["all",{"n":1,"list":[1.5,true,null]}]}`)
	for _, c := range all {
		c.waitGot("Msg", `["all",{"n":1,"list":[1.5,true,null]}]`)
	}
	n.expect(t, http.StatusAccepted, http.MethodPost, api("/:send", "excluded="+bob.id, "excluded="+anon.id), `{"target":"Msg","arguments":["but"]}`)
	n.expect(t, http.StatusAccepted, http.MethodPost, api("/users/bob/:send"), `{"target":"Msg","arguments":["to bob"]}`)
	n.expect(t, http.StatusAccepted, http.MethodPost, api("/connections/"+anon.id+"/:send"), `{"target":"NoArgs"}`)
	n.expect(t, http.StatusOK, http.MethodPut, api("/groups/g/connections/"+alice.id), "")
	n.expect(t, http.StatusOK, http.MethodPut, api("/groups/g/connections/"+anon.id), "")
	n.expect(t, http.StatusAccepted, http.MethodPost, api("/groups/g/:send"), `{"target":"Msg","arguments":["group"]}`)
	n.expect(t, http.StatusAccepted, http.MethodPost, api("/groups/g/:send", "excluded="+alice.id), `{"target":"Msg","arguments":["group but"]}`)
	want := map[*client][]string{
		alice: {`["all",{"n":1,"list":[1.5,true,null]}]`, `["but"]`, `["group"]`},
		bob:   {`["all",{"n":1,"list":[1.5,true,null]}]`, `["to bob"]`},
		anon:  {`["all",{"n":1,"list":[1.5,true,null]}]`, `["group"]`, `["group but"]`},
	}
	for c, w := range want {
		for _, args := range w {
			c.waitGot("Msg", args)
		}
	}
	settle(t, n, "m1", all...) // and nothing else came
	for c, w := range want {
		if got := c.got("Msg"); strings.Join(slices.Sorted(slices.Values(got)), "|") != strings.Join(slices.Sorted(slices.Values(w)), "|") {
			t.Errorf("%s got %v, want %v", c.id, got, w)
		}
	}
	if got := anon.got("NoArgs"); len(got) != 1 || got[0] != "[]" {
		t.Errorf("a send without arguments: %v", got)
	}
}

// Groups, user groups, existence checks and closes.
func TestRESTGroupsUsersAndCloses(t *testing.T) {
	n := startNode(t, nil, "")
	a1 := connect(t, n.url+"/hubs/chat", "test:alice")
	b := connect(t, n.url+"/hubs/chat", "test:bob")

	n.expect(t, http.StatusOK, http.MethodHead, api("/connections/"+a1.id), "")
	n.expect(t, http.StatusNotFound, http.MethodHead, api("/connections/nobody"), "")
	n.expect(t, http.StatusOK, http.MethodHead, api("/users/alice"), "")
	n.expect(t, http.StatusNotFound, http.MethodHead, api("/users/carol"), "")
	n.expect(t, http.StatusNotFound, http.MethodHead, api("/groups/g"), "")
	n.expect(t, http.StatusNotFound, http.MethodPut, api("/groups/g/connections/nobody"), "")
	n.expect(t, http.StatusNotFound, http.MethodDelete, api("/groups/g/connections/nobody"), "")
	n.expect(t, http.StatusOK, http.MethodPut, api("/groups/g/connections/"+b.id), "")
	n.expect(t, http.StatusOK, http.MethodHead, api("/groups/g"), "")
	n.expect(t, http.StatusOK, http.MethodDelete, api("/groups/g/connections/"+b.id), "")
	n.expect(t, http.StatusNotFound, http.MethodHead, api("/groups/g"), "")

	// User groups: current and later connections; ttl=0 only current ones.
	n.expect(t, http.StatusNotFound, http.MethodHead, api("/users/alice/groups/team"), "")
	n.expect(t, http.StatusOK, http.MethodPut, api("/users/alice/groups/team"), "")
	n.expect(t, http.StatusOK, http.MethodHead, api("/users/alice/groups/team"), "")
	a2 := connect(t, n.url+"/hubs/chat", "test:alice")
	n.expect(t, http.StatusOK, http.MethodPut, api("/users/bob/groups/now", "ttl=0"), "")
	n.expect(t, http.StatusOK, http.MethodPut, api("/users/bob/groups/brief", "ttl=1"), "")
	b2 := connect(t, n.url+"/hubs/chat", "test:bob")
	n.expect(t, http.StatusAccepted, http.MethodPost, api("/groups/team/:send"), `{"target":"Msg","arguments":["team"]}`)
	n.expect(t, http.StatusAccepted, http.MethodPost, api("/groups/now/:send"), `{"target":"Msg","arguments":["now"]}`)
	n.expect(t, http.StatusAccepted, http.MethodPost, api("/groups/brief/:send"), `{"target":"Msg","arguments":["brief"]}`)
	for c, w := range map[*client][]string{a1: {`["team"]`}, a2: {`["team"]`}, b: {`["brief"]`, `["now"]`}, b2: {`["brief"]`}} {
		for _, args := range w {
			c.waitGot("Msg", args)
		}
	}
	settle(t, n, "m1", a1, a2, b, b2) // and nothing else came
	// (No order holds between sends to different groups.)
	for c, w := range map[*client]string{a1: `["team"]`, a2: `["team"]`, b: `["brief"]|["now"]`, b2: `["brief"]`} {
		if got := strings.Join(slices.Sorted(slices.Values(c.got("Msg"))), "|"); got != w {
			t.Errorf("%s got %s, want %s", c.id, got, w)
		}
	}
	testutil.EventuallyWithin(t, 10*time.Second, "brief to expire", func() bool {
		s, _ := n.rest(t, http.MethodHead, api("/groups/brief"), "")
		return s == http.StatusNotFound
	})
	n.expect(t, http.StatusNoContent, http.MethodDelete, api("/users/alice/groups/team"), "")
	n.expect(t, http.StatusNotFound, http.MethodHead, api("/users/alice/groups/team"), "")
	n.expect(t, http.StatusNotFound, http.MethodHead, api("/groups/team"), "")
	n.expect(t, http.StatusOK, http.MethodPut, api("/users/alice/groups/x"), "")
	n.expect(t, http.StatusOK, http.MethodPut, api("/groups/y/connections/"+a1.id), "")
	n.expect(t, http.StatusNoContent, http.MethodDelete, api("/users/alice/groups"), "")
	n.expect(t, http.StatusNotFound, http.MethodHead, api("/groups/x"), "")
	n.expect(t, http.StatusNotFound, http.MethodHead, api("/groups/y"), "")
	n.expect(t, http.StatusOK, http.MethodPut, api("/groups/z/connections/"+b.id), "")
	n.expect(t, http.StatusOK, http.MethodDelete, api("/connections/"+b.id+"/groups"), "")
	n.expect(t, http.StatusNotFound, http.MethodHead, api("/groups/z"), "")

	// Closes, with the reason in the client's Close message.
	n.expect(t, http.StatusOK, http.MethodDelete, api("/connections/"+b2.id, "reason=bye+now"), "")
	testutil.EventuallyWithin(t, 10*time.Second, "b2 closed", b2.ended)
	if m, ok := b2.closeMessage(); !ok || string(m["error"]) != `"bye now"` {
		t.Fatalf("b2's Close: %v", m)
	}
	n.expect(t, http.StatusNoContent, http.MethodPost, api("/users/alice/:closeConnections", "excluded="+a2.id, "reason=u"), "")
	testutil.EventuallyWithin(t, 10*time.Second, "a1 closed", a1.ended)
	n.expect(t, http.StatusOK, http.MethodPut, api("/groups/last/connections/"+b.id), "")
	n.expect(t, http.StatusNoContent, http.MethodPost, api("/groups/last/:closeConnections"), "")
	testutil.EventuallyWithin(t, 10*time.Second, "b closed", b.ended)
	if a2.ended() {
		t.Fatal("a2 closed")
	}
	n.expect(t, http.StatusNoContent, http.MethodPost, api("/:closeConnections", "reason=all"), "")
	testutil.EventuallyWithin(t, 10*time.Second, "a2 closed", a2.ended)
	if m, _ := a2.closeMessage(); string(m["error"]) != `"all"` || string(m["allowReconnect"]) == "true" {
		t.Fatalf("a2's Close: %v", m)
	}
}

// A call made on one node acts on the clients of the other.
func TestRESTAcrossNodes(t *testing.T) {
	broker := backplane.NewMemory()
	b1, b2 := broker.Node(), broker.Node()
	t.Cleanup(func() { b1.Close(); b2.Close() })
	n1, n2 := startNode(t, b1, "n1"), startNode(t, b2, "n2")
	far := connect(t, n2.url+"/hubs/chat", "test:alice")
	near := connect(t, n1.url+"/hubs/chat", "")

	n1.expect(t, http.StatusOK, http.MethodHead, api("/connections/"+far.id), "")
	n1.expect(t, http.StatusOK, http.MethodHead, api("/users/alice"), "")
	n1.expect(t, http.StatusOK, http.MethodPut, api("/users/alice/groups/team"), "")
	n1.expect(t, http.StatusOK, http.MethodHead, api("/groups/team"), "")
	n1.expect(t, http.StatusAccepted, http.MethodPost, api("/groups/team/:send"), `{"target":"Msg","arguments":["team"]}`)
	far.waitGot("Msg", `["team"]`)
	n1.expect(t, http.StatusOK, http.MethodPut, api("/groups/pair/connections/"+far.id), "")
	n1.expect(t, http.StatusOK, http.MethodPut, api("/groups/pair/connections/"+near.id), "")
	n2.expect(t, http.StatusAccepted, http.MethodPost, api("/groups/pair/:send", "excluded="+far.id), `{"target":"Msg","arguments":["pair"]}`)
	near.waitGot("Msg", `["pair"]`)
	n1.expect(t, http.StatusOK, http.MethodDelete, api("/connections/"+far.id, "reason=far"), "")
	testutil.EventuallyWithin(t, 10*time.Second, "far closed", far.ended)
	n1.expect(t, http.StatusNotFound, http.MethodHead, api("/connections/"+far.id), "")
	if far.has("Msg", `["pair"]`) {
		t.Fatal("an excluded connection got the group send")
	}
}

// Tokens: HS256 with the key, for this URL, not expired; anything else gets
// a bare 401.
func TestRESTAuth(t *testing.T) {
	n := startNode(t, nil, "")
	path := api("/:send")
	u := n.url + path
	base, _, _ := strings.Cut(u, "?")
	body := `{"target":"Msg","arguments":[]}`
	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + s
	}
	exp := time.Now().Add(time.Minute).Unix()
	good := []byte(testKey)
	parsed, _ := url.Parse(n.url)
	noPort := "http://" + parsed.Hostname() + "/api/hubs/chat/:send"
	for _, tc := range []struct {
		name   string
		auth   string
		status int
	}{
		{"good", sign(jwt.SigningMethodHS256, good, jwt.MapClaims{"aud": base, "exp": exp}), http.StatusAccepted},
		{"aud with the query", sign(jwt.SigningMethodHS256, good, jwt.MapClaims{"aud": u, "exp": exp}), http.StatusAccepted},
		{"aud without the port, as Microsoft's SDK signs it", sign(jwt.SigningMethodHS256, good, jwt.MapClaims{"aud": noPort + "?api-version=2022-06-01", "exp": exp}), http.StatusAccepted},
		{"aud over https", sign(jwt.SigningMethodHS256, good, jwt.MapClaims{"aud": strings.Replace(base, "http:", "https:", 1), "exp": exp}), http.StatusAccepted},
		{"aud a list", sign(jwt.SigningMethodHS256, good, jwt.MapClaims{"aud": []string{"x", base}, "exp": exp}), http.StatusAccepted},
		{"none", "", http.StatusUnauthorized},
		{"not bearer", "Basic abc", http.StatusUnauthorized},
		{"garbage", "Bearer abc.def.ghi", http.StatusUnauthorized},
		{"wrong key", sign(jwt.SigningMethodHS256, []byte("another-key-0123456789-abcdefghijklmnop"), jwt.MapClaims{"aud": base, "exp": exp}), http.StatusUnauthorized},
		{"expired", sign(jwt.SigningMethodHS256, good, jwt.MapClaims{"aud": base, "exp": time.Now().Add(-time.Second).Unix()}), http.StatusUnauthorized},
		{"no exp", sign(jwt.SigningMethodHS256, good, jwt.MapClaims{"aud": base}), http.StatusUnauthorized},
		{"not yet", sign(jwt.SigningMethodHS256, good, jwt.MapClaims{"aud": base, "exp": exp, "nbf": time.Now().Add(time.Minute).Unix()}), http.StatusUnauthorized},
		{"another path", sign(jwt.SigningMethodHS256, good, jwt.MapClaims{"aud": n.url + "/api/hubs/chat/users/x/:send", "exp": exp}), http.StatusUnauthorized},
		{"another host", sign(jwt.SigningMethodHS256, good, jwt.MapClaims{"aud": "http://example.com/api/hubs/chat/:send", "exp": exp}), http.StatusUnauthorized},
		{"another port", sign(jwt.SigningMethodHS256, good, jwt.MapClaims{"aud": "http://" + parsed.Hostname() + ":1/api/hubs/chat/:send", "exp": exp}), http.StatusUnauthorized},
		{"no aud", sign(jwt.SigningMethodHS256, good, jwt.MapClaims{"exp": exp}), http.StatusUnauthorized},
		{"HS384", sign(jwt.SigningMethodHS384, good, jwt.MapClaims{"aud": base, "exp": exp}), http.StatusUnauthorized},
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"aud": base, "exp": exp}), http.StatusUnauthorized},
	} {
		status, got := call(t, http.MethodPost, u, body, tc.auth)
		if status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, status, tc.status, got)
		}
		if status == http.StatusUnauthorized && strings.TrimSpace(got) != "Unauthorized" {
			t.Errorf("%s: the 401 says %q", tc.name, got)
		}
	}
	// Health needs no token.
	if status, _ := call(t, http.MethodHead, n.url+"/api/health?api-version=2022-06-01", "", ""); status != http.StatusOK {
		t.Errorf("health: %d", status)
	}
}

// Bad requests get a clear 4xx and change nothing; a client meanwhile
// carries on.
func TestRESTBadRequests(t *testing.T) {
	n := startNode(t, nil, "")
	c := connect(t, n.url+"/hubs/chat", "test:alice")
	long := strings.Repeat("x", 1025)
	tooMany := strings.TrimSuffix(strings.Repeat("excluded=c&", 1025), "&")
	big := `{"target":"Msg","arguments":["` + strings.Repeat("x", 10<<20) + `"]}`
	for _, tc := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{http.MethodPost, api("/:send"), `{"target":"Msg","arguments":[`, http.StatusBadRequest, "InvalidPayload"},
		{http.MethodPost, api("/:send"), `not json`, http.StatusBadRequest, "InvalidPayload"},
		{http.MethodPost, api("/:send"), ``, http.StatusBadRequest, "InvalidPayload"},
		{http.MethodPost, api("/:send"), `{"arguments":[1]}`, http.StatusBadRequest, "InvalidPayload"},
		{http.MethodPost, api("/:send"), `{"target":5}`, http.StatusBadRequest, "InvalidPayload"},
		{http.MethodPost, api("/:send"), `{"target":"Msg","arguments":"x"}`, http.StatusBadRequest, "InvalidPayload"},
		{http.MethodPost, api("/:send"), `{"target":"Msg"} {"target":"Msg"}`, http.StatusBadRequest, "InvalidPayload"},
		{http.MethodPost, api("/:send"), big, http.StatusRequestEntityTooLarge, "PayloadTooLarge"},
		{http.MethodPost, "/api/hubs/nohub/:send?api-version=2022-06-01", `{"target":"Msg"}`, http.StatusNotFound, "HubNotFound"},
		{http.MethodPost, "/api/hubs/chat/:send", `{"target":"Msg"}`, http.StatusBadRequest, "UnsupportedApiVersion"},
		{http.MethodPost, "/api/hubs/chat/:send?api-version=1.0", `{"target":"Msg"}`, http.StatusBadRequest, "UnsupportedApiVersion"},
		{http.MethodPost, api("/:send", "application=app"), `{"target":"Msg"}`, http.StatusBadRequest, "BadRequest"},
		{http.MethodPut, api("/groups/with%20space/connections/" + c.id), ``, http.StatusBadRequest, "BadRequest"},
		{http.MethodPut, api("/groups/" + long + "/connections/" + c.id), ``, http.StatusBadRequest, "BadRequest"},
		{http.MethodPost, api("/users/" + long + "/:send"), `{"target":"Msg"}`, http.StatusBadRequest, "BadRequest"},
		{http.MethodPost, api("/connections/a%01b/:send"), `{"target":"Msg"}`, http.StatusBadRequest, "BadRequest"},
		{http.MethodPost, api("/:send", "excluded="), `{"target":"Msg"}`, http.StatusBadRequest, "BadRequest"},
		{http.MethodPost, api("/:send", tooMany), `{"target":"Msg"}`, http.StatusBadRequest, "BadRequest"},
		{http.MethodPut, api("/users/alice/groups/g", "ttl=-1"), ``, http.StatusBadRequest, "BadRequest"},
		{http.MethodPut, api("/users/alice/groups/g", "ttl=soon"), ``, http.StatusBadRequest, "BadRequest"},
		{http.MethodDelete, api("/connections/"+c.id, "reason="+long), ``, http.StatusBadRequest, "BadRequest"},
		{http.MethodGet, api("/:send"), ``, http.StatusMethodNotAllowed, "MethodNotAllowed"},
		{http.MethodPost, api("/groups/g"), ``, http.StatusMethodNotAllowed, "MethodNotAllowed"},
		{http.MethodPost, api("/nothing/here"), ``, http.StatusNotFound, "NotFound"},
		{http.MethodPost, "/api/v1/hubs/chat", ``, http.StatusNotFound, "NotFound"},
	} {
		status, body := n.rest(t, tc.method, tc.path, tc.body)
		var detail struct{ Code, Message string }
		_ = json.Unmarshal([]byte(body), &detail)
		if status != tc.status || detail.Code != tc.code || detail.Message == "" {
			t.Errorf("%s %.80s: %d %s, want %d %s", tc.method, tc.path, status, body, tc.status, tc.code)
		}
	}
	// Nothing changed: no message, no group, no membership, c still there.
	n.expect(t, http.StatusNotFound, http.MethodHead, api("/groups/g"), "")
	n.expect(t, http.StatusNotFound, http.MethodHead, api("/users/alice/groups/g"), "")
	n.expect(t, http.StatusOK, http.MethodHead, api("/connections/"+c.id), "")
	if done := c.invoke("1", "Broadcast", "still here"); string(done["error"]) != "" {
		t.Fatalf("the client's own call: %v", done)
	}
	c.waitGot("Msg", `["still here"]`)
	if got := c.got("Msg"); len(got) != 1 {
		t.Fatalf("a bad request sent something: %v", got)
	}
}

// The body bound holds with a client that keeps working on another
// connection while large bodies are refused.
func TestRESTBodyBound(t *testing.T) {
	n := startNode(t, nil, "")
	c := connect(t, n.url+"/hubs/chat", "")
	big := `{"target":"Msg","arguments":["` + strings.Repeat("y", 2<<20) + `"]}`
	u := n.url + api("/:send")
	aud, _, _ := strings.Cut(u, "?")
	token, err := n.key.Token(aud, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Bounded in count, and in time only generously: a loaded machine (the
	// race detector, other tests) may take a while over 40 MB of bodies.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type tally struct{ answered, refused int }
	done := make(chan tally, 1)
	go func() {
		var got tally
		for i := 0; i < 20 && ctx.Err() == nil; i++ {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(big))
			req.Header.Set("Authorization", "Bearer "+token)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				got.answered++
				if resp.StatusCode == http.StatusRequestEntityTooLarge {
					got.refused++
				}
				resp.Body.Close()
			}
		}
		done <- got
	}()
	for i := range 20 {
		id := string(rune('a' + i))
		if m := c.invoke(id, "Broadcast", id); string(m["error"]) != "" {
			t.Fatalf("invocation %d: %v", i, m)
		}
	}
	// A body may be cut off before its answer is read (the server closes
	// the connection after a 413), so not every request is answered; every
	// answer is a refusal.
	got := <-done
	if got.answered == 0 || got.refused != got.answered {
		t.Fatalf("%d of %d answered large bodies refused (20 sent)", got.refused, got.answered)
	}
	t.Logf("%d of 20 large bodies answered, every one refused", got.answered)
}
