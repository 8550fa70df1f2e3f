package backplane

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

var tokenCases = []string{"", "a", "a.b", "*", ">", "a b", "%", "%41", "A", "_", "=", "-", "é☃", "\x00", "\xff",
	"cluster:group:x", strings.Repeat("x", 199), strings.Repeat("x", 201), strings.Repeat(".", 100)}

func TestTokensAreValidAndDistinct(t *testing.T) {
	for name, tok := range map[string]func(string) string{"subject": subjectToken, "bucket": bucketToken, "key": keyToken} {
		seen := map[string]string{}
		for _, n := range tokenCases {
			tk := tok(n)
			if other, dup := seen[tk]; dup {
				t.Fatalf("%s: %q and %q both map to %q", name, n, other, tk)
			}
			seen[tk] = n
			checkToken(t, name, n, tk)
		}
	}
}

func checkToken(t *testing.T, kind, name, tk string) {
	t.Helper()
	if tk == "" || len(tk) > maxToken+2+64 {
		t.Fatalf("%s token of %q: %q (empty or too long)", kind, name, tk)
	}
	for i := 0; i < len(tk); i++ {
		c := tk[i]
		ok := isAlnum(c) || c == '-' || c == '_' || kind == "subject" && (c == ':' || c == '%') || kind == "key" && c == '='
		if !ok {
			t.Fatalf("%s token of %q: %q holds %q", kind, name, tk, c)
		}
	}
	esc := map[string]byte{"subject": '%', "bucket": '_', "key": '='}[kind]
	back, err := untoken(tk, esc)
	if len(tk) > 1 && tk[0] == esc && tk[1] == 'H' {
		if err == nil {
			t.Fatalf("a hashed %s token reversed", kind)
		}
		return
	}
	if err != nil || back != name {
		t.Fatalf("%s token %q of %q reads back as %q, %v", kind, tk, name, back, err)
	}
}

func FuzzTokens(f *testing.F) {
	for _, n := range tokenCases {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		checkToken(t, "subject", name, subjectToken(name))
		checkToken(t, "bucket", name, bucketToken(name))
		checkToken(t, "key", name, keyToken(name))
		_, _ = untoken(name, '%') // any input: an error or a name, never a panic
	})
}

func FuzzParsePart(f *testing.F) {
	for _, h := range []string{"id 0 2", "x-1 3 4", "id 1 1", "id -1 3", "id 0 99999", "", "a b c d", "id 00 2"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		id, index, count, err := parsePart(h)
		if err != nil {
			return
		}
		if id == "" || index < 0 || index >= count || count < 2 || count > maxParts {
			t.Fatalf("%q read as %q %d %d", h, id, index, count)
		}
		if id2, i2, c2, err := parsePart(formatPart(id, index, count)); err != nil || id2 != id || i2 != index || c2 != count {
			t.Fatalf("%q does not read back", h)
		}
	})
}

func TestAssembly(t *testing.T) {
	now := time.Now()
	a := assembly{partial: map[string]*partial{}}
	add := func(id string, i, n int, data string) ([]byte, bool, int) {
		return a.add(formatPart(id, i, n), "s", []byte(data), now)
	}
	// In order, interleaved with another message: both whole.
	add("m1", 0, 3, "ab")
	add("m2", 0, 2, "xy")
	add("m1", 1, 3, "cd")
	if w, ok, lost := add("m2", 1, 2, "z"); !ok || string(w) != "xyz" || lost != 0 {
		t.Fatalf("m2: %q %v %d", w, ok, lost)
	}
	if w, ok, lost := add("m1", 2, 3, "e"); !ok || string(w) != "abcde" || lost != 0 {
		t.Fatalf("m1: %q %v %d", w, ok, lost)
	}
	// A part missing: the message is dropped, counted once.
	add("m3", 0, 3, "a")
	if _, ok, lost := add("m3", 2, 3, "c"); ok || lost != 2 {
		t.Fatalf("m3 with a part missing: complete %v, lost %d", ok, lost) // the partial, and the end without a start
	}
	if len(a.partial) != 0 || a.bytes != 0 {
		t.Fatalf("left over: %d partial, %d bytes", len(a.partial), a.bytes)
	}
	// The start missing: nothing waits.
	if _, ok, _ := add("m4", 1, 3, "b"); ok || len(a.partial) != 0 {
		t.Fatal("a message without its start is kept")
	}
	// Bounded in bytes: the oldest goes.
	big := string(bytes.Repeat([]byte("x"), maxAssembling/2+1))
	add("old", 0, 2, big)
	if _, _, lost := a.add(formatPart("new", 0, 2), "s", []byte(big), now.Add(time.Second)); lost != 1 || a.partial["old"] != nil || a.bytes > maxAssembling {
		t.Fatalf("over the bound: lost %d, %d bytes", lost, a.bytes)
	}
	// Not complete within the limit: dropped.
	if lost := a.expire(now.Add(assemblyLimit + 2*time.Second)); lost != 1 || len(a.partial) != 0 || a.bytes != 0 {
		t.Fatalf("expire: lost %d, %d left", lost, len(a.partial))
	}
	// A malformed header is a loss, not a panic.
	if _, ok, lost := a.add("nonsense", "s", nil, now); ok || lost != 1 {
		t.Fatal("a malformed part header")
	}
}
