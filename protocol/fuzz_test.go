package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"unicode/utf8"
)

// jsonSeeds are fuzz seeds beyond the golden frames: odd but valid records,
// near misses, and several records in one buffer.
var jsonSeeds = []string{
	"{\"arguments\":[\"a\",{\"b\":[1,2.5e-3,true,false,null]}],\"target\":\"Send\",\"type\":1}\x1e",
	"{\"type\":1,\"invocationId\":\"\\ud83d\\ude00\",\"target\":\"\\u001e\",\"arguments\":[],\"streamIds\":[\"\\n\"],\"headers\":{\"\\u0000\":\"\"}}\x1e",
	"{\"type\":3,\"invocationId\":\"1\",\"error\":null,\"result\":null}\x1e{\"type\":6}\x1e{\"type\":7,\"error\":\"x\",\"allowReconnect\":true}\x1e",
	"{\"typ\\u0065\":8,\"sequenceId\":-0}\x1e",
	"{\"type\":10,\"x\":[[[[]]]]}\x1e{\"type\":6}\x1e",
	"{\"type\":1,\"target\":\"\\ud800\",\"arguments\":[]}\x1e",
	"{\"type\":3,\"invocationId\":\"1\",\"error\":\"e\",\"result\":1}\x1e",
	"{\"type\":2,\"invocationId\":\"1\"}\x1e",
	"{\"Type\":6}\x1e",
	"{\"type\":6,\"x\":\"\xff\"}\x1e",
	"{\"type\":1,\"target\":\"T\",\"arguments\":[1,]}\x1e",
	"{\"type\":9,\"sequenceId\":9223372036854775808}\x1e",
	"{\"type\":6}",
	" {\"type\" :6 } \x1e",
}

var handshakeSeeds = []string{
	"{\"protocol\":\"json\",\"version\":1}\x1e",
	"{\"protocol\":\"messagepack\",\"version\":2}\x1e{\"type\":6}\x1e",
	"{\"version\":1,\"x\":[{}],\"protocol\":\"j\\u0073on\"}\x1e",
	"{\"protocol\":null,\"version\":1}\x1e",
	"{\"protocol\":\"json\",\"version\":1.0}\x1e",
	"{\"protocol\":\"json\",\"version\":2147483648}\x1e",
	"{\"protocol\":\"json\"",
}

// TestWriteFuzzSeeds writes the seed corpora with -update.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz seeds")
	}
	var jsonIn []string
	for _, tc := range goldenMessages {
		b, _ := JSON.AppendMessage(nil, tc.m)
		jsonIn = append(jsonIn, string(b))
	}
	writeSeeds(t, "FuzzJSONReadMessage", append(jsonIn, jsonSeeds...))
	writeSeeds(t, "FuzzReadHandshake", handshakeSeeds)
}

func writeSeeds(t *testing.T, fuzzName string, seeds []string) {
	dir := filepath.Join("testdata", "fuzz", fuzzName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(s) + ")\n"
		name := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzJSONReadMessage reads records until the data runs out. Properties: no
// panic; rest is a suffix of data after an error that allows skipping; the
// size limit cuts exactly at the record's length; the scanner agrees with
// encoding/json on validity; a decoded message re-encodes to bytes that
// decode to the same message and encode to the same bytes again.
func FuzzJSONReadMessage(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		rest := data
		for range 64 {
			m, next, err := JSON.ReadMessage(rest, 0)
			if errors.Is(err, ErrIncomplete) {
				if m != nil || next != nil || bytes.IndexByte(rest, RecordSeparator) >= 0 {
					t.Fatalf("bad ErrIncomplete: %v %q", m, next)
				}
				return
			}
			if next == nil || len(next) >= len(rest) {
				t.Fatalf("rest %q not after the record in %q (err %v)", next, rest, err)
			}
			rec := rest[:len(rest)-len(next)-1]
			checkLimit(t, rest, len(rec), err)
			checkScannerAgrees(t, rec)
			switch {
			case err == nil:
				checkRoundTrip(t, m)
				if !json.Valid(rec) {
					t.Fatalf("accepted invalid JSON %q", rec)
				}
			case errors.Is(err, ErrInvalid), errors.Is(err, ErrUnknownType):
				if m != nil {
					t.Fatalf("message %#v with error %v", m, err)
				}
			default:
				t.Fatalf("unexpected error %v", err)
			}
			rest = next
		}
	})
}

// checkLimit reads again with maxSize set at and just below the record size.
func checkLimit(t *testing.T, data []byte, size int, want error) {
	if _, _, err := JSON.ReadMessage(data, size+1); !sameClass(err, want) {
		t.Fatalf("maxSize %d: err %v, without limit %v", size+1, err, want)
	}
	if size == 0 {
		return
	}
	if _, _, err := JSON.ReadMessage(data, size); !sameClass(err, want) {
		t.Fatalf("maxSize %d: err %v, without limit %v", size, err, want)
	}
	if size == 1 {
		return // maxSize 0 means no limit
	}
	if _, _, err := JSON.ReadMessage(data, size-1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("maxSize %d for a %d-byte record: %v", size-1, size, err)
	}
}

func sameClass(a, b error) bool {
	for _, e := range []error{ErrIncomplete, ErrTooLarge, ErrInvalid, ErrUnknownType} {
		if errors.Is(a, e) != errors.Is(b, e) {
			return false
		}
	}
	return (a == nil) == (b == nil)
}

// checkScannerAgrees compares our validator with encoding/json's (which
// does not check UTF-8) where nesting stays shallow.
func checkScannerAgrees(t *testing.T, rec []byte) {
	if bytes.Count(rec, []byte("["))+bytes.Count(rec, []byte("{")) >= maxDepth {
		return
	}
	ours := validJSON(rec) == nil
	std := json.Valid(rec) && utf8.Valid(rec)
	if ours != std {
		t.Fatalf("validJSON %v, encoding/json %v for %q", ours, std, rec)
	}
}

func checkRoundTrip(t *testing.T, m Message) {
	enc, err := JSON.AppendMessage(nil, m)
	if err != nil {
		t.Fatalf("encoding %#v: %v", m, err)
	}
	if i := bytes.IndexByte(enc, RecordSeparator); i != len(enc)-1 {
		t.Fatalf("separator at %d in %q", i, enc)
	}
	if !json.Valid(enc[:len(enc)-1]) {
		t.Fatalf("encoded invalid JSON %q", enc)
	}
	m2, rest, err := JSON.ReadMessage(enc, 0)
	if err != nil || len(rest) != 0 {
		t.Fatalf("re-reading %q: %v, rest %q", enc, err, rest)
	}
	if !reflect.DeepEqual(m, m2) {
		t.Fatalf("round trip through %q\n got %#v\nwant %#v", enc, m2, m)
	}
	enc2, err := JSON.AppendMessage(nil, m2)
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("re-encoding: %q then %q, %v", enc, enc2, err)
	}
}

// FuzzReadHandshake checks that ReadHandshake never panics, that a request
// it accepts is read back the same when written canonically, and that any
// string makes a handshake error response encoding/json can read.
func FuzzReadHandshake(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, maxSize := range []int{0, len(data) / 2} {
			req, rest, err := ReadHandshake(data, maxSize)
			switch {
			case err == nil:
				if len(rest) >= len(data) {
					t.Fatalf("rest %q", rest)
				}
				in := fmt.Sprintf(`{"protocol":%s,"version":%d}`+"\x1e", appendString(nil, req.Protocol), req.Version)
				req2, rest2, err := ReadHandshake([]byte(in), 0)
				if err != nil || req2 != req || len(rest2) != 0 {
					t.Fatalf("%+v written as %q reads %+v, %v", req, in, req2, err)
				}
			case errors.Is(err, ErrIncomplete), errors.Is(err, ErrTooLarge):
				if rest != nil || req != (HandshakeRequest{}) {
					t.Fatalf("%v with %+v, %q", err, req, rest)
				}
			case errors.Is(err, ErrInvalid):
				if req != (HandshakeRequest{}) {
					t.Fatalf("%v with %+v", err, req)
				}
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}
		resp := AppendHandshakeResponse(nil, string(data))
		if len(data) == 0 {
			if string(resp) != "{}\x1e" {
				t.Fatalf("success response %q", resp)
			}
			return
		}
		if i := bytes.IndexByte(resp, RecordSeparator); i != len(resp)-1 {
			t.Fatalf("separator at %d in %q", i, resp)
		}
		var v struct {
			Error *string `json:"error"`
		}
		if err := json.Unmarshal(resp[:len(resp)-1], &v); err != nil || v.Error == nil {
			t.Fatalf("response %q: %v", resp, err)
		}
		if utf8.Valid(data) && *v.Error != string(data) {
			t.Fatalf("response %q reads %q", resp, *v.Error)
		}
	})
}
