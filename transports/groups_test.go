package transports_test

import (
	"github.com/actorhub/actorhub/internal/testutil"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
)

// TestGroupLimitOverWebSocket: past MaxGroupsPerConnection, the hub
// method's Groups.Add fails and the client's invocation gets ASP.NET's
// generic error (the text of ErrTooManyGroups only with detailed errors);
// the connection stays usable, and another client is not affected.
func TestGroupLimitOverWebSocket(t *testing.T) {
	for _, detailed := range []bool{false, true} {
		hubURL, _ := startServer(t, hub.Config{MaxGroupsPerConnection: 5, EnableDetailedErrors: detailed}, transports.Config{})
		c := connect(t, hubURL)
		other := connect(t, hubURL)
		if m := c.invoke("1", "JoinGroups", "a", 5); m.Error != "" {
			t.Fatalf("5 groups: %s", m.Error)
		}
		want := "An unexpected error occurred invoking 'JoinGroups' on the server."
		if detailed {
			want += " Error: " + hub.ErrTooManyGroups.Error()
		}
		if m := c.invoke("2", "JoinGroups", "b", 1); m.Error != want {
			t.Fatalf("a 6th group: error %q, want %q", m.Error, want)
		}
		c.echo("3")
		other.echo("1")
		if m := other.invoke("2", "JoinGroups", "a", 5); m.Error != "" {
			t.Fatalf("another connection's 5 groups: %s", m.Error)
		}
	}
}

// TestGroupsReleasedOverWebSocket: a client joins 40,000 groups (no limit
// set), then closes; every group is released and the server's Go heap
// comes back to within 12 MB of where it was, while another client keeps
// invoking.
func TestGroupsReleasedOverWebSocket(t *testing.T) {
	if testing.Short() {
		t.Skip("joins 40,000 groups")
	}
	const groups = 40_000
	const slack = 12 << 20 // protoactor's process registry keeps the room of its peak (a few MB); pool workers
	hubURL, h := startServer(t, hub.Config{MaxGroupsPerConnection: -1}, transports.Config{})
	honest := connect(t, hubURL)
	honest.echo("0")
	base := h.Stats().Groups
	before := heapAfterGC()

	greedy := connect(t, hubURL)
	greedy.send(invocation("1", "JoinGroups", "g", groups))
	type reply struct {
		rec string
		err error
	}
	done := make(chan reply, 1)
	go func() {
		rec, err := greedy.next(time.Minute)
		done <- reply{rec, err}
	}()
	for i := 1; ; i++ { // the honest client is served while the groups are made
		honest.echo(strconv.Itoa(i))
		select {
		case r := <-done:
			if r.err != nil || !strings.Contains(r.rec, `"invocationId":"1"`) || strings.Contains(r.rec, `"error"`) {
				t.Fatalf("JoinGroups: %q, %v", r.rec, r.err)
			}
		case <-time.After(10 * time.Millisecond):
			continue
		}
		break
	}
	if n := h.Stats().Groups; n != base+groups {
		t.Fatalf("%d groups held, want %d", n, base+groups)
	}
	joined := heapAfterGC()

	greedy.send(`{"type":7}`)
	testutil.EventuallyWithin(t, time.Minute, "the groups to be released", func() bool { return h.Stats().Groups == base })
	honest.echo("after")
	after := heapAfterGC()
	t.Logf("server Go heap: %d MB before, %d MB with %d groups, %d MB after", before>>20, joined>>20, groups, after>>20)
	if joined < before+2*slack {
		t.Fatalf("the groups held only %d bytes: the test cannot tell a leak", joined-before)
	}
	if after > before+slack {
		t.Fatalf("%d bytes held after the groups were released (%d before), want under %d more", after, before, slack)
	}
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
