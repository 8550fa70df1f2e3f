package transports

import (
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// The address a connection counts under: the TCP peer's, IPv4 as is (also
// when mapped into IPv6), IPv6 by its /64; none for a peer that is not an
// IP address; never a forwarded header.
func TestClientAddr(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.7:5000":                       "192.0.2.7",
		"[::ffff:192.0.2.7]:5000":              "192.0.2.7",
		"[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:1": "2001:db8:1:2::",
		"[2001:db8:1:2::1]:2":                  "2001:db8:1:2::",
		"[fe80::1%eth0]:3":                     "fe80::",
		"@":                                    "invalid IP",
		"":                                     "invalid IP",
	} {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {"203.0.113.9"}}}
		if got := clientAddr(r).String(); got != want {
			t.Errorf("%q counts as %s, want %s", remote, got, want)
		}
	}
}

// An address's record lives while it has connections or its rate bucket
// refills, then the sweep forgets it: the records are bounded by the
// addresses seen in the last burst/rate seconds, not by every address ever
// seen.
func TestLimiterForgetsAddresses(t *testing.T) {
	l, err := NewLimiter(LimiterConfig{ConnectRatePerIP: 1000, ConnectBurstPerIP: 2})
	if err != nil {
		t.Fatal(err)
	}
	var slots []*ipSlot
	for i := range 100 {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i)})
		s, r := l.acquire(a)
		if r.refused {
			t.Fatalf("address %d refused", i)
		}
		slots = append(slots, s)
	}
	if st := l.Stats(); st.Addresses != 100 || st.Connections != 100 {
		t.Fatalf("stats: %+v", st)
	}
	for _, s := range slots[1:] {
		l.release(s)
	}
	// A second later (the Limiter's clock moved on) the buckets are full
	// again and the next acquire sweeps.
	l.mu.Lock()
	l.epoch = l.epoch.Add(-time.Second)
	l.mu.Unlock()
	if _, r := l.acquire(netip.MustParseAddr("10.9.9.9")); r.refused {
		t.Fatal("refused")
	}
	if st := l.Stats(); st.Addresses != 2 || st.Connections != 2 {
		t.Fatalf("after the sweep: %+v, want the address with a connection and the new one", st)
	}

	// Without a rate, an address is forgotten as its last connection ends.
	c, err := NewLimiter(LimiterConfig{MaxConnectionsPerIP: 3})
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("10.0.0.1")
	s1, _ := c.acquire(a)
	s2, _ := c.acquire(a)
	if s1 != s2 || c.Stats().Addresses != 1 {
		t.Fatal("two connections of one address share its record")
	}
	c.release(s1)
	c.release(s2)
	if st := c.Stats(); st.Addresses != 0 || st.Connections != 0 {
		t.Fatalf("after the last connection: %+v", st)
	}
}
