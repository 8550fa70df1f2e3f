package transports_test

import (
	"net/http"
	"testing"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
)

func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

func TestAuthentication(t *testing.T) {
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{Authenticator: testTokens})

	whoAmI := func(t *testing.T, c *wsClient) any {
		t.Helper()
		c.handshake()
		m := c.invoke("1", "WhoAmI")
		if m.Error != "" {
			t.Fatalf("WhoAmI: %+v", m)
		}
		return m.Result
	}

	t.Run("Authorization header", func(t *testing.T) {
		n := negotiate(t, hubURL, "negotiateVersion=1", bearer("test:alice"))
		if user := whoAmI(t, dial(t, hubURL, "id="+n.ConnectionToken, bearer("test:alice"))); user != "alice" {
			t.Fatalf("user %q, want alice", user)
		}
	})
	t.Run("access_token query", func(t *testing.T) {
		n := negotiate(t, hubURL, "negotiateVersion=1&access_token=test:bob", nil)
		if user := whoAmI(t, dial(t, hubURL, "id="+n.ConnectionToken+"&access_token=test:bob", nil)); user != "bob" {
			t.Fatalf("user %q, want bob", user)
		}
	})
	t.Run("skipNegotiation", func(t *testing.T) {
		if user := whoAmI(t, dial(t, hubURL, "", bearer("test:carol"))); user != "carol" {
			t.Fatalf("user %q, want carol", user)
		}
	})
	t.Run("anonymous", func(t *testing.T) {
		n := negotiate(t, hubURL, "negotiateVersion=1", nil)
		if user := whoAmI(t, dial(t, hubURL, "id="+n.ConnectionToken, nil)); user != "" {
			t.Fatalf("user %q, want none", user)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		status, hdr, body := post(t, hubURL+"/negotiate?negotiateVersion=1", bearer("forged"))
		if status != http.StatusUnauthorized {
			t.Fatalf("negotiate: status %d: %s", status, body)
		}
		if got := hdr.Get("WWW-Authenticate"); got != "Bearer" {
			t.Errorf("WWW-Authenticate %q", got)
		}
		status, _, body = post(t, hubURL+"/negotiate?negotiateVersion=1&access_token=forged", nil)
		if status != http.StatusUnauthorized {
			t.Fatalf("negotiate with access_token: status %d: %s", status, body)
		}

		n := negotiate(t, hubURL, "negotiateVersion=1", bearer("test:alice"))
		if s := dialStatus(t, hubURL, "id="+n.ConnectionToken, bearer("forged")); s != http.StatusUnauthorized {
			t.Fatalf("WebSocket: status %d, want 401", s)
		}
		if s := dialStatus(t, hubURL, "id="+n.ConnectionToken+"&access_token=forged", nil); s != http.StatusUnauthorized {
			t.Fatalf("WebSocket with access_token: status %d, want 401", s)
		}
		if s := dialStatus(t, hubURL, "", bearer("forged")); s != http.StatusUnauthorized {
			t.Fatalf("WebSocket without negotiate: status %d, want 401", s)
		}
		// The refusals did not use the token up.
		if user := whoAmI(t, dial(t, hubURL, "id="+n.ConnectionToken, bearer("test:alice"))); user != "alice" {
			t.Fatalf("user %q, want alice", user)
		}
	})
	t.Run("another user's token", func(t *testing.T) {
		n := negotiate(t, hubURL, "negotiateVersion=1", bearer("test:alice"))
		if s := dialStatus(t, hubURL, "id="+n.ConnectionToken, bearer("test:mallory")); s != http.StatusForbidden {
			t.Fatalf("status %d, want 403", s)
		}
		// Mallory's attempt did not take the token from its owner.
		if user := whoAmI(t, dial(t, hubURL, "id="+n.ConnectionToken, bearer("test:alice"))); user != "alice" {
			t.Fatalf("owner after a refused claim: user %q, want alice", user)
		}
		n = negotiate(t, hubURL, "negotiateVersion=1", bearer("test:alice"))
		if s := dialStatus(t, hubURL, "id="+n.ConnectionToken, nil); s != http.StatusForbidden {
			t.Fatalf("anonymous: status %d, want 403", s)
		}
		n = negotiate(t, hubURL, "negotiateVersion=1", nil)
		if s := dialStatus(t, hubURL, "id="+n.ConnectionToken, bearer("test:mallory")); s != http.StatusForbidden {
			t.Fatalf("an anonymous connection's token: status %d, want 403", s)
		}
	})
}
