package hub_test

import (
	"sync/atomic"
	"testing"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
)

// guarded lets anyone call Public, signed-in users Secret and Claims, and
// users whose token says role=admin Admin.
type guarded struct {
	ran   atomic.Int64    // calls of Secret and Admin that ran
	asked testutil.Events // the method names Authorize saw
}

func (g *guarded) Authorize(ctx *hub.Context, method string) error {
	g.asked.Add(method)
	switch method {
	case "Public":
		return nil
	case "Admin":
		if ctx.Claims["role"] != "admin" {
			return hub.ErrUnauthorized
		}
		return nil
	case "Boom":
		panic("guarded: Authorize panics")
	}
	if ctx.UserID == "" {
		return hub.ErrUnauthorized
	}
	return nil
}

func (g *guarded) Public() string                         { return "public" }
func (g *guarded) Secret(n int) int                       { g.ran.Add(1); return n * 2 }
func (g *guarded) Admin() string                          { g.ran.Add(1); return "admin" }
func (g *guarded) Boom() string                           { g.ran.Add(1); return "boom" }
func (g *guarded) Claims(ctx *hub.Context) map[string]any { return ctx.Claims }

func unauthorized(target string) string {
	return "Failed to invoke '" + target + "' because user is unauthorized"
}

func TestAuthorizeRefusesAnonymous(t *testing.T) {
	g := &guarded{}
	h := newHub(t, g, hub.Config{})
	c := dial(t, h, "anon", "")
	if got := c.invoke("Secret", 1); got.Error != unauthorized("Secret") {
		t.Fatalf("Secret: %+v", got)
	}
	// The client's spelling is in the text; Authorize sees the Go name.
	if got := c.invoke("sEcReT", 1); got.Error != unauthorized("sEcReT") {
		t.Fatalf("sEcReT: %+v", got)
	}
	if asked := g.asked.All(); len(asked) != 2 || asked[0] != "Secret" || asked[1] != "Secret" {
		t.Fatalf("Authorize saw %q, want the Go name twice", asked)
	}
	if got := c.invoke("Boom"); got.Error != unauthorized("Boom") {
		t.Fatalf("a panicking Authorize must refuse: %+v", got)
	}
	if n := g.ran.Load(); n != 0 {
		t.Fatalf("%d refused methods ran", n)
	}
	// The connection goes on.
	if got := c.invoke("Public"); got.Error != "" || got.Result != `"public"` {
		t.Fatalf("Public after refusals: %+v", got)
	}
	if !c.conn.Connected() {
		t.Fatal("a refusal closed the connection")
	}
}

func TestAuthorizeLetsUsersIn(t *testing.T) {
	g := &guarded{}
	h := newHub(t, g, hub.Config{})
	c := dial(t, h, "alice", "alice")
	if got := c.invoke("Secret", 21); got.Error != "" || got.Result != "42" {
		t.Fatalf("Secret: %+v", got)
	}
	if got := c.invoke("Admin"); got.Error != unauthorized("Admin") {
		t.Fatalf("Admin without the role: %+v", got)
	}

	admin := dialInfo(t, h, hub.ConnInfo{ID: "root", UserID: "root", Claims: map[string]any{"role": "admin", "sub": "root"}})
	if got := admin.invoke("Admin"); got.Error != "" || got.Result != `"admin"` {
		t.Fatalf("Admin with the role: %+v", got)
	}
	if got := admin.invoke("Claims"); got.Error != "" || got.Result != `{"role":"admin","sub":"root"}` {
		t.Fatalf("Claims: %+v", got)
	}
	if got := c.invoke("Claims"); got.Error != "" || got.Result != "null" {
		t.Fatalf("Claims of a connection without any: %+v", got)
	}
}

func TestAuthorizeIsNotAHubMethod(t *testing.T) {
	h := newHub(t, &guarded{}, hub.Config{})
	c := dial(t, h, "alice", "alice")
	want := "Failed to invoke 'Authorize' due to an error on the server. HubException: Method does not exist."
	if got := c.invoke("Authorize", "Secret"); got.Error != want {
		t.Fatalf("Authorize: %+v", got)
	}
}

func TestAuthorizeBeforeStreamingCheck(t *testing.T) {
	h := newHub(t, &guarded{}, hub.Config{})
	c := dial(t, h, "anon", "")
	c.feed(`{"type":4,"invocationId":"s1","target":"Secret","arguments":[1]}`)
	if got := c.waitCompletion("s1"); got.Error != unauthorized("Secret") {
		t.Fatalf("unauthorized stream invocation: %+v", got)
	}
	c.feed(`{"type":4,"invocationId":"s2","target":"Public","arguments":[]}`)
	want := "The client attempted to invoke the non-streaming 'Public' method with a streaming invocation."
	if got := c.waitCompletion("s2"); got.Error != want {
		t.Fatalf("authorized stream invocation: %+v", got)
	}
}
