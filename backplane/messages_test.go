package backplane

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestMessagesRoundTrip(t *testing.T) {
	inv := &Invocation{
		Excluded:      []string{"c1", "c2"},
		Payloads:      map[string][]byte{"json": []byte(`{"type":1,"target":"m","arguments":[]}` + "\x1e"), "messagepack": {0x03, 0x95, 0x01}},
		InvocationID:  "r1.n1",
		ReturnChannel: "Hub:internal:return:n1",
		Origin:        "n1",
		SkipGroups:    []string{"a"},
	}
	got, err := ReadInvocation(AppendInvocation(nil, inv))
	if err != nil || !reflect.DeepEqual(got, inv) {
		t.Fatalf("invocation: got %+v, %v", got, err)
	}
	plain := &Invocation{Payloads: map[string][]byte{"json": []byte("x")}, Origin: "n2"}
	got, err = ReadInvocation(AppendInvocation(nil, plain))
	if err != nil || !reflect.DeepEqual(got, plain) {
		t.Fatalf("plain invocation: got %+v, %v", got, err)
	}

	cmd := &GroupCommand{ID: 42, Origin: "n1", Action: GroupRemove, Group: "g", ConnectionID: "c"}
	gotCmd, err := ReadGroupCommand(AppendGroupCommand(nil, cmd))
	if err != nil || *gotCmd != *cmd {
		t.Fatalf("group command: got %+v, %v", gotCmd, err)
	}
	if id, err := ReadAck(AppendAck(nil, 1<<40)); err != nil || id != 1<<40 {
		t.Fatalf("ack: got %d, %v", id, err)
	}
	res := &Result{Protocol: "json", Completion: []byte(`{"type":3}`), InvocationID: "r2.n1"}
	gotRes, err := ReadResult(AppendResult(nil, res))
	if err != nil || !reflect.DeepEqual(gotRes, res) {
		t.Fatalf("result: got %+v, %v", gotRes, err)
	}
}

// ASP.NET Core's invocation has two items; later items are optional, and
// items a reader does not know are skipped.
func TestMessagesShortAndLong(t *testing.T) {
	// [[], {"json": bin "x"}]: what an ASP.NET node publishes.
	aspnet := []byte{0x92, 0x90, 0x81, 0xa4, 'j', 's', 'o', 'n', 0xc4, 0x01, 'x'}
	got, err := ReadInvocation(aspnet)
	if err != nil || string(got.Payloads["json"]) != "x" || got.Origin != "" {
		t.Fatalf("two items: %+v, %v", got, err)
	}
	// An ack with an extra item.
	if id, err := ReadAck([]byte{0x92, 0x07, 0xa1, 'z'}); err != nil || id != 7 {
		t.Fatalf("long ack: %d, %v", id, err)
	}
}

func TestMessagesMalformed(t *testing.T) {
	for _, data := range [][]byte{
		nil,
		{0xc1},
		{0x90},
		{0x91, 0x90},
		{0xdd, 0xff, 0xff, 0xff, 0xff}, // 4G items in 0 bytes
		{0x92, 0xdd, 0x7f, 0xff, 0xff, 0xff, 0x90},                                 // 2G excluded ids
		{0x92, 0x90, 0x81, 0xa4, 'j', 's', 'o', 'n', 0xc6, 0x7f, 0xff, 0xff, 0xff}, // a 2 GB bin
		{0x92, 0x90, 0x81, 0x01, 0xc4, 0x00},                                       // a protocol name that is a number
	} {
		if _, err := ReadInvocation(data); !errors.Is(err, ErrMalformed) {
			t.Errorf("invocation % x: %v", data, err)
		}
		if _, err := ReadGroupCommand(data); !errors.Is(err, ErrMalformed) {
			t.Errorf("group command % x: %v", data, err)
		}
		if _, err := ReadResult(data); !errors.Is(err, ErrMalformed) {
			t.Errorf("result % x: %v", data, err)
		}
	}
	bad := AppendGroupCommand(nil, &GroupCommand{ID: 1, Action: 9})
	if _, err := ReadGroupCommand(bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown group action: %v", err)
	}
}

// FuzzMessages: no input makes a reader panic or allocate past its input,
// and what a reader accepts encodes back to something it reads the same.
func FuzzMessages(f *testing.F) {
	f.Add(AppendInvocation(nil, &Invocation{Excluded: []string{"a"}, Payloads: map[string][]byte{"json": []byte("{}\x1e")}, Origin: "n"}))
	f.Add(AppendGroupCommand(nil, &GroupCommand{ID: 3, Origin: "n", Group: "g", ConnectionID: "c"}))
	f.Add(AppendAck(nil, 5))
	f.Add(AppendResult(nil, &Result{Protocol: "messagepack", Completion: []byte{1, 2}, InvocationID: "r1.n"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if inv, err := ReadInvocation(data); err == nil {
			again, err := ReadInvocation(AppendInvocation(nil, inv))
			if err != nil || len(again.Payloads) != len(inv.Payloads) || again.Origin != inv.Origin {
				t.Fatalf("invocation does not round-trip: %+v / %+v, %v", inv, again, err)
			}
		}
		if cmd, err := ReadGroupCommand(data); err == nil {
			again, err := ReadGroupCommand(AppendGroupCommand(nil, cmd))
			if err != nil || *again != *cmd {
				t.Fatalf("group command does not round-trip: %+v / %+v, %v", cmd, again, err)
			}
		}
		_, _ = ReadAck(data)
		_, _ = ReadResult(data)
	})
}

// Deep nesting in items a reader skips is walked without recursion.
func TestMessagesDeepNesting(t *testing.T) {
	msg := []byte{0x97, 0x90, 0x80, 0xc0, 0xc0, 0xa1, 'o', 0x90} // an invocation of 7 items
	msg = append(msg, bytes.Repeat([]byte{0x91}, 8<<20)...)      // the 7th: 8M nested arrays
	msg = append(msg, 0xc0)
	if _, err := ReadInvocation(msg); err != nil {
		t.Fatalf("well-formed, if deep: %v", err)
	}
	if _, err := ReadInvocation(msg[:len(msg)-1]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
}
