package transports_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"testing"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
)

// idPattern is 16 bytes in base64url without padding.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

// wantTransports: what the server serves, in ASP.NET's fallback order.
const wantTransports = `[
	{"transport":"WebSockets","transferFormats":["Text","Binary"]},
	{"transport":"ServerSentEvents","transferFormats":["Text"]},
	{"transport":"LongPolling","transferFormats":["Text","Binary"]}]`

func TestNegotiate(t *testing.T) {
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{})

	// raw POSTs to negotiate and decodes the reply into a map, so that
	// absent fields can be told from empty ones.
	raw := func(t *testing.T, query string) map[string]json.RawMessage {
		t.Helper()
		status, hdr, body := post(t, hubURL+"/negotiate"+query, nil)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		if ct := hdr.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		return m
	}
	str := func(t *testing.T, m map[string]json.RawMessage, key string) string {
		t.Helper()
		var s string
		if err := json.Unmarshal(m[key], &s); err != nil {
			t.Fatalf("%s: %v in %s", key, err, m[key])
		}
		return s
	}
	checkV1 := func(t *testing.T, m map[string]json.RawMessage) {
		t.Helper()
		id, token := str(t, m, "connectionId"), str(t, m, "connectionToken")
		if !idPattern.MatchString(id) || !idPattern.MatchString(token) {
			t.Errorf("connectionId %q, connectionToken %q: want 22 base64url characters", id, token)
		}
		if id == token {
			t.Errorf("connectionId and connectionToken are both %q", id)
		}
		if string(m["negotiateVersion"]) != "1" {
			t.Errorf("negotiateVersion %s, want 1", m["negotiateVersion"])
		}
		if !jsonEqual(string(m["availableTransports"]), wantTransports) {
			t.Errorf("availableTransports %s", m["availableTransports"])
		}
		for _, k := range []string{"useStatefulReconnect", "ProtocolVersion", "error"} {
			if _, ok := m[k]; ok {
				t.Errorf("reply has %q", k)
			}
		}
	}

	t.Run("v1", func(t *testing.T) {
		a, b := raw(t, "?negotiateVersion=1"), raw(t, "?negotiateVersion=1")
		checkV1(t, a)
		checkV1(t, b)
		if str(t, a, "connectionId") == str(t, b, "connectionId") || str(t, a, "connectionToken") == str(t, b, "connectionToken") {
			t.Errorf("two negotiations gave the same id or token: %v %v", a, b)
		}
	})
	t.Run("v0", func(t *testing.T) {
		m := raw(t, "")
		if _, ok := m["connectionToken"]; ok {
			t.Errorf("v0 reply has a connectionToken: %s", m["connectionToken"])
		}
		id := str(t, m, "connectionId")
		if !idPattern.MatchString(id) {
			t.Errorf("connectionId %q", id)
		}
		if string(m["negotiateVersion"]) != "0" {
			t.Errorf("negotiateVersion %s, want 0", m["negotiateVersion"])
		}
		if !jsonEqual(string(m["availableTransports"]), wantTransports) {
			t.Errorf("availableTransports %s", m["availableTransports"])
		}
		// A v0 client uses the connection id as the token.
		c := dial(t, hubURL, "id="+id, nil)
		c.handshake()
		c.echo("1")
	})
	t.Run("clamped", func(t *testing.T) {
		checkV1(t, raw(t, "?negotiateVersion=99"))
	})
	t.Run("letter case", func(t *testing.T) {
		checkV1(t, raw(t, "?NegotiateVersion=1"))
		checkV1(t, raw(t, "?NEGOTIATEVERSION=1"))
	})
	// A non-integer version: older ASP.NET Core quoted it, current
	// versions say "non-integer"; clients only show the text.
	const nonInteger = "The client requested a non-integer protocol version."
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"?negotiateVersion=abc", []string{"The client requested an invalid protocol version 'abc'", nonInteger}},
		{"?negotiateVersion=", []string{"The client requested an invalid protocol version ''", nonInteger}},
		{"?negotiateVersion=-1", []string{"The client requested version '-1', but the server does not support this version."}},
	} {
		t.Run("error "+tc.query, func(t *testing.T) {
			m := raw(t, tc.query)
			if got := str(t, m, "error"); !slices.Contains(tc.want, got) {
				t.Errorf("error %q, want one of %q", got, tc.want)
			}
			if _, ok := m["connectionId"]; ok {
				t.Errorf("an error reply has a connectionId: %v", m)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			status, hdr, body := do(t, method, hubURL+"/negotiate?negotiateVersion=1", nil)
			if status != http.StatusMethodNotAllowed {
				t.Errorf("%s: status %d: %s", method, status, body)
			}
			if allow := hdr.Get("Allow"); allow != http.MethodPost {
				t.Errorf("%s: Allow %q", method, allow)
			}
		}
	})
}
