package service

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/actorhub/actorhub/protocol"
)

// FuzzUpstreamAnswer: no answer body makes the reader panic; what it takes
// for a Completion is one.
func FuzzUpstreamAnswer(f *testing.F) {
	f.Add([]byte(`{"type":3,"invocationId":"1","result":{"a":1}}` + "\x1e"))
	f.Add([]byte(`{"type":3,"invocationId":"1","error":"no"}`))
	f.Add([]byte(`{"x":1}`))
	f.Add([]byte{0x94, 0x03, 0x80, 0xa1, '1', 0x03})
	f.Add([]byte{0x05, 0x94, 0x03, 0x80, 0xa1, '1', 0x02})
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, p := range []protocol.Protocol{protocol.JSON, protocol.MessagePack} {
			if c := readCompletion(p, body); c != nil && c.Type() != protocol.TypeCompletion {
				t.Fatalf("%T", c)
			}
		}
		_ = json.Valid(body)
	})
}

// FuzzAudience: no audience makes the comparison panic, and one that
// matches names the request's host and path.
func FuzzAudience(f *testing.F) {
	f.Add("http://example.com:80/api/x?y", "example.com:80", "/api/x")
	f.Add("https://[::1]/client/?hub=a", "[::1]:5000", "/client/")
	f.Add("%zz", "h", "/")
	f.Fuzz(func(t *testing.T, aud, host, path string) {
		r := &http.Request{Host: host}
		_ = sameURL(aud, r, path)
	})
}

func TestSameURL(t *testing.T) {
	r := &http.Request{Host: "Example.COM:5000"}
	for aud, want := range map[string]bool{
		"http://example.com:5000/api/hubs/chat/:send":                    true,
		"https://example.com/api/hubs/chat/:send?api-version=2022-06-01": true,
		"http://example.com:5000/api/hubs/chat/:send/":                   true,
		"http://example.com:5000/api/hubs/chat/%3Asend":                  true,
		"http://example.com:5001/api/hubs/chat/:send":                    false,
		"http://example.org:5000/api/hubs/chat/:send":                    false,
		"http://example.com:5000/api/hubs/chat":                          false,
		"/api/hubs/chat/:send":                                           false,
		"example.com:5000/api/hubs/chat/:send":                           false,
		"http://example.com:5000/api/hubs/chat/:send/../users/x/:send":   false,
		"http://user@example.com:5000/api/hubs/chat/:send#f":             true,
		"http://example.com:5000/API/hubs/chat/:send":                    false,
	} {
		if got := sameURL(aud, r, "/api/hubs/chat/:send"); got != want {
			t.Errorf("%s: %v, want %v", aud, got, want)
		}
	}
}

func TestAccessKeys(t *testing.T) {
	if _, err := NewAccessKey(); err == nil {
		t.Error("no key accepted")
	}
	if _, err := NewAccessKey("short"); err == nil {
		t.Error("a short key accepted")
	}
	k, err := ParseAccessKeys(" aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa , bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb,")
	if err != nil || len(k.keys) != 2 {
		t.Fatalf("two keys: %v", err)
	}
	// A token signed with the second key is accepted (rotation).
	second := &AccessKey{keys: k.keys[1:], parser: k.parser}
	tok, err := second.Token("http://h/x", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.verify(tok, func(aud string) bool { return aud == "http://h/x" }); err != nil {
		t.Fatalf("second key: %v", err)
	}
	if _, err := k.verify(tok, func(string) bool { return false }); err == nil {
		t.Fatal("another audience accepted")
	}
	if got := k.Signature("conn"); len(got) != 2*(len("sha256=")+64)+1 {
		t.Fatalf("signature %q", got)
	}
}
