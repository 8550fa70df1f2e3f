package backplane

import (
	"errors"
	"reflect"
	"testing"
)

func TestCommandsRoundTrip(t *testing.T) {
	cmd := &Command{ID: 7, Origin: "n1", Op: OpCloseGroup, Name: "g", Arg: "x", Reason: "bye", Excluded: []string{"c1"}, Stamp: 1 << 50, Expires: 99}
	got, err := ReadCommand(AppendCommand(nil, cmd))
	if err != nil || !reflect.DeepEqual(got, cmd) {
		t.Fatalf("command: got %+v, %v", got, err)
	}
	ans := &Answer{ID: 7, Node: "n2", Found: true}
	gotAns, err := ReadAnswer(AppendAnswer(nil, ans))
	if err != nil || *gotAns != *ans {
		t.Fatalf("answer: got %+v, %v", gotAns, err)
	}
	ug := &UserGroups{Node: "n3", Last: true, Entries: []UserGroup{
		{User: "u", Group: "g", Stamp: 5, Origin: "n1", Expires: 10},
		{User: "u", Stamp: 6, Origin: "n2", Removed: true},
	}}
	gotUG, err := ReadUserGroups(AppendUserGroups(nil, ug))
	if err != nil || !reflect.DeepEqual(gotUG, ug) {
		t.Fatalf("user groups: got %+v, %v", gotUG, err)
	}
	empty := &UserGroups{Node: "n4"}
	gotUG, err = ReadUserGroups(AppendUserGroups(nil, empty))
	if err != nil || !reflect.DeepEqual(gotUG, empty) {
		t.Fatalf("empty user groups: got %+v, %v", gotUG, err)
	}
}

func TestCommandsMalformed(t *testing.T) {
	for _, data := range [][]byte{
		nil,
		{0xc1},
		{0x90},
		{0x93, 0x01, 0xa1, 'n'},
		{0xdd, 0xff, 0xff, 0xff, 0xff},
		{0x93, 0xa1, 'n', 0xc3, 0xdd, 0x7f, 0xff, 0xff, 0xff},     // 2G entries
		{0x93, 0xa1, 'n', 0xc3, 0x91, 0x92, 0xa1, 'u', 0xa1, 'g'}, // a short entry
	} {
		if _, err := ReadCommand(data); !errors.Is(err, ErrMalformed) {
			t.Errorf("command % x: %v", data, err)
		}
		if _, err := ReadAnswer(data); !errors.Is(err, ErrMalformed) {
			t.Errorf("answer % x: %v", data, err)
		}
		if _, err := ReadUserGroups(data); !errors.Is(err, ErrMalformed) {
			t.Errorf("user groups % x: %v", data, err)
		}
	}
	bad := AppendCommand(nil, &Command{ID: 1, Op: 99})
	if _, err := ReadCommand(bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown operation: %v", err)
	}
}

// FuzzCommands: no input makes a reader panic or allocate past its input,
// and what a reader accepts encodes back to the same.
func FuzzCommands(f *testing.F) {
	f.Add(AppendCommand(nil, &Command{ID: 3, Origin: "n", Op: OpUserGroupAdd, Name: "u", Arg: "g", Stamp: 1, Expires: 2}))
	f.Add(AppendAnswer(nil, &Answer{ID: 3, Node: "n", Found: true}))
	f.Add(AppendUserGroups(nil, &UserGroups{Node: "n", Entries: []UserGroup{{User: "u", Group: "g", Stamp: 1, Origin: "n"}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if cmd, err := ReadCommand(data); err == nil {
			again, err := ReadCommand(AppendCommand(nil, cmd))
			if err != nil || !reflect.DeepEqual(again, cmd) {
				t.Fatalf("command does not round-trip: %+v / %+v, %v", cmd, again, err)
			}
		}
		if a, err := ReadAnswer(data); err == nil {
			again, err := ReadAnswer(AppendAnswer(nil, a))
			if err != nil || *again != *a {
				t.Fatalf("answer does not round-trip: %+v / %+v, %v", a, again, err)
			}
		}
		if ug, err := ReadUserGroups(data); err == nil {
			again, err := ReadUserGroups(AppendUserGroups(nil, ug))
			if err != nil || !reflect.DeepEqual(again, ug) {
				t.Fatalf("user groups do not round-trip: %+v / %+v, %v", ug, again, err)
			}
		}
	})
}
