package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestReadHandshake(t *testing.T) {
	tests := []struct {
		name, in string
		want     HandshakeRequest
	}{
		{"js client json", `{"protocol":"json","version":1}`, HandshakeRequest{"json", 1}},
		{"js client messagepack", `{"protocol":"messagepack","version":2}`, HandshakeRequest{"messagepack", 2}},
		{"order and white space", " { \"version\" : 2 ,\n\"protocol\" : \"json\" } ", HandshakeRequest{"json", 2}},
		{"unknown properties", `{"x":{"y":[1,"z"]},"protocol":"json","version":1,"z":null}`, HandshakeRequest{"json", 1}},
		{"escapes", `{"protocol":"j\u0073on","\u0076ersion":1}`, HandshakeRequest{"json", 1}},
		{"negative version", `{"protocol":"json","version":-1}`, HandshakeRequest{"json", -1}},
		{"last duplicate wins", `{"protocol":"a","version":1,"protocol":"json","version":3}`, HandshakeRequest{"json", 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, rest, err := ReadHandshake([]byte(tc.in+"\x1e{\"type\":6}\x1e"), 0)
			if err != nil {
				t.Fatal(err)
			}
			if req != tc.want {
				t.Fatalf("got %+v, want %+v", req, tc.want)
			}
			if string(rest) != "{\"type\":6}\x1e" {
				t.Fatalf("rest = %q", rest)
			}
		})
	}
}

func TestReadHandshakeErrors(t *testing.T) {
	tests := []struct {
		name, in string
		maxSize  int
		want     error
		detail   string
	}{
		{"empty", "", 0, ErrIncomplete, ""},
		{"no separator", `{"protocol":"json","version":1}`, 0, ErrIncomplete, ""},
		{"too large before the separator", `{"protocol":"json","version":1}`, 10, ErrTooLarge, ""},
		{"too large", "{\"protocol\":\"json\",\"version\":1}\x1e", 30, ErrTooLarge, ""},
		{"at the limit", "{\"protocol\":\"json\",\"version\":1}", 31, ErrIncomplete, ""},
		{"empty record", "\x1e", 0, ErrInvalid, "expected a JSON object"},
		{"not JSON", "hello\x1e", 0, ErrInvalid, "expected a JSON object"},
		{"array", "[]\x1e", 0, ErrInvalid, "expected a JSON object"},
		{"trailing data", "{\"protocol\":\"json\",\"version\":1}x\x1e", 0, ErrInvalid, "unexpected"},
		{"missing protocol", "{\"version\":1}\x1e", 0, ErrInvalid, "missing required property 'protocol'"},
		{"null protocol", "{\"protocol\":null,\"version\":1}\x1e", 0, ErrInvalid, "missing required property 'protocol'"},
		{"missing version", "{\"protocol\":\"json\"}\x1e", 0, ErrInvalid, "missing required property 'version'"},
		{"case-sensitive", "{\"Protocol\":\"json\",\"Version\":1}\x1e", 0, ErrInvalid, "missing required property 'protocol'"},
		{"protocol number", "{\"protocol\":1,\"version\":1}\x1e", 0, ErrInvalid, "expected 'protocol' to be a string"},
		{"version string", "{\"protocol\":\"json\",\"version\":\"1\"}\x1e", 0, ErrInvalid, "expected 'version' to be an integer"},
		{"version float", "{\"protocol\":\"json\",\"version\":1.5}\x1e", 0, ErrInvalid, "expected 'version' to be an integer"},
		{"version out of range", "{\"protocol\":\"json\",\"version\":2147483648}\x1e", 0, ErrInvalid, "out of range"},
		{"invalid UTF-8", "{\"protocol\":\"js\xffon\",\"version\":1}\x1e", 0, ErrInvalid, "UTF-8"},
		{"lone surrogate", "{\"protocol\":\"\\ud800\",\"version\":1}\x1e", 0, ErrInvalid, "surrogate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _, err := ReadHandshake([]byte(tc.in), tc.maxSize)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.detail)
			}
			if req != (HandshakeRequest{}) {
				t.Fatalf("req = %+v", req)
			}
		})
	}
}

// TestReadHandshakePrefixes reads every prefix of a handshake followed by a
// message: each is incomplete until the separator arrives.
func TestReadHandshakePrefixes(t *testing.T) {
	data := "{\"protocol\":\"json\",\"version\":1}\x1e{\"type\":6}\x1e"
	end := strings.IndexByte(data, RecordSeparator)
	for n := 0; n <= len(data); n++ {
		req, rest, err := ReadHandshake([]byte(data[:n]), 0)
		if n <= end {
			if !errors.Is(err, ErrIncomplete) {
				t.Fatalf("prefix %d: %v", n, err)
			}
			continue
		}
		if err != nil || req != (HandshakeRequest{"json", 1}) || string(rest) != data[end+1:n] {
			t.Fatalf("prefix %d: %+v, %q, %v", n, req, rest, err)
		}
	}
}

func TestAppendHandshakeResponse(t *testing.T) {
	if got := AppendHandshakeResponse([]byte("x"), ""); string(got) != "x{}\x1e" {
		t.Fatalf("success: %q", got)
	}
	tests := []struct{ msg, want string }{
		{"The protocol 'foo' is not supported.", `{"error":"The protocol 'foo' is not supported."}`},
		{"say \"hi\"\x1e\\", `{"error":"say \"hi\"\u001e\\"}`},
	}
	for _, tc := range tests {
		got := AppendHandshakeResponse(nil, tc.msg)
		if string(got) != tc.want+"\x1e" {
			t.Fatalf("\n got %q\nwant %q", got, tc.want+"\x1e")
		}
		var resp struct{ Error string }
		if err := json.Unmarshal(got[:len(got)-1], &resp); err != nil || resp.Error != tc.msg {
			t.Fatalf("%q does not decode to the error: %q, %v", got, resp.Error, err)
		}
	}
}
