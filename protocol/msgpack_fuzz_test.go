package protocol

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// msgpackSeeds are fuzz seeds beyond the golden frames: odd but valid
// frames, near misses, and several frames in one buffer.
var msgpackSeeds = []string{
	"\x0e\x95\x01\x80\xa10\xa3Add\x92\x28\xcb\x40\x04\x00\x00\x00\x00\x00\x00", // JS client, 5 elements
	"\x03\x92\x07\xc0",                                                      // JS client close
	"\x02\x91\x06\x02\x91\x06\x03\x92\x08\x01",                              // several frames
	"\x0b\x96\x01\x80\xc0\xa1T\x90\x91\xa10\xa1x\x90",                       // extra elements
	"\x06\x93\x0a\xa1x\x90\x02\x91\x06",                                     // unknown type, then ping
	"\x0d\x95\x01\x80\xc0\xa1T\x93\xc4\x01\x00\xd6\xff\x00\x00\x00\x01\xc1", // reserved byte
	"\x05\x94\x03\x80\xa11\x02",                                             // void completion
	"\x05\x94\x03\x80\xa11\x03",                                             // kind 3 without result
	"\x80\x80\x80\x80\x08",                                                  // 2 GiB prefix
	"\x82\x80\x00\x91\x06",                                                  // padded prefix
	"\x0a\x93\x05\xde\x00\x01\xa1k\xa1v\xa11",                               // map16 headers
	"\x0c\x91\xcf\x00\x00\x00\x00\x00\x00\x00\x06",                          // wide type
	"\x07\x95\x01\x80\xc0\xa1T\xdd\xff\xff\xff\xff",                         // huge count
	"\x09\x92\x01\x95\x01\x80\xc0\xa1T\x90",                                 // nested message as type
}

// TestWriteMessagePackFuzzSeeds writes the seed corpus with -update.
func TestWriteMessagePackFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz seeds")
	}
	var in []string
	for _, tc := range mpGoldenMessages {
		if tc.name == "large_string" {
			continue
		}
		b, _ := MessagePack.AppendMessage(nil, tc.m)
		in = append(in, string(b))
	}
	writeSeeds(t, "FuzzMessagePackReadMessage", append(in, msgpackSeeds...))
}

// FuzzMessagePackReadMessage reads frames until the data runs out.
// Properties: no panic; rest is a suffix of data after an error that allows
// skipping; the size limit cuts exactly at the body's length; an accepted
// body is one array the msgpack library reads too; a decoded message
// re-encodes to bytes that decode to the same message and encode to the same
// bytes again.
func FuzzMessagePackReadMessage(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		rest := data
		for range 64 {
			m, next, err := MessagePack.ReadMessage(rest, 0)
			if errors.Is(err, ErrIncomplete) || errors.Is(err, ErrTooLarge) {
				if m != nil || next != nil {
					t.Fatalf("bad %v: %v %x", err, m, next)
				}
				return
			}
			body, after, ferr := nextFrame(rest, 0)
			if ferr != nil || !bytes.Equal(after, next) || len(next) >= len(rest) {
				t.Fatalf("rest %x not after the frame in %x (err %v)", next, rest, err)
			}
			mpCheckLimit(t, rest, len(body), err)
			switch {
			case err == nil:
				if verr := validMsgPack(body); verr != nil {
					t.Fatalf("accepted invalid body %x: %v", body, verr)
				}
				mpCheckRoundTrip(t, m)
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

// mpCheckLimit reads again with maxSize set at and just below the body size.
func mpCheckLimit(t *testing.T, data []byte, size int, want error) {
	if _, _, err := MessagePack.ReadMessage(data, size+1); !sameClass(err, want) {
		t.Fatalf("maxSize %d: err %v, without limit %v", size+1, err, want)
	}
	if size == 0 {
		return
	}
	if _, _, err := MessagePack.ReadMessage(data, size); !sameClass(err, want) {
		t.Fatalf("maxSize %d: err %v, without limit %v", size, err, want)
	}
	if size == 1 {
		return // maxSize 0 means no limit
	}
	if _, _, err := MessagePack.ReadMessage(data, size-1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("maxSize %d for a %d-byte body: %v", size-1, size, err)
	}
}

func mpCheckRoundTrip(t *testing.T, m Message) {
	enc, err := MessagePack.AppendMessage(nil, m)
	if err != nil {
		t.Fatalf("encoding %#v: %v", m, err)
	}
	m2, rest, err := MessagePack.ReadMessage(enc, 0)
	if err != nil || len(rest) != 0 {
		t.Fatalf("re-reading %x: %v, rest %x", enc, err, rest)
	}
	if !reflect.DeepEqual(m, m2) {
		t.Fatalf("round trip through %x\n got %#v\nwant %#v", enc, m2, m)
	}
	enc2, err := MessagePack.AppendMessage(nil, m2)
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("re-encoding: %x then %x, %v", enc, enc2, err)
	}
}
