package hub_test

import (
	"strings"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
)

type nothingHub struct{}

func (nothingHub) Nothing() {}

// TestConfigDefaults: a zero Config takes the Default constants, and the
// transport message limit follows the hub message limit.
func TestConfigDefaults(t *testing.T) {
	for _, c := range []struct {
		name      string
		cfg       hub.Config
		transport int
	}{
		{"zero", hub.Config{}, hub.DefaultMaxTransportMessageSize},
		{"large hub messages", hub.Config{MaximumReceiveMessageSize: 1 << 20}, 4 << 20},
		{"no hub message limit", hub.Config{MaximumReceiveMessageSize: -1}, 64 << 20},
		{"its own", hub.Config{MaxTransportMessageSize: 5000}, 5000},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHub(t, nothingHub{}, c.cfg)
			opts := h.TransportOptions()
			if opts.MaxTransportMessageSize != c.transport {
				t.Errorf("MaxTransportMessageSize %d, want %d", opts.MaxTransportMessageSize, c.transport)
			}
			if opts.DisconnectTimeout != hub.DefaultDisconnectTimeout || opts.AllowStatefulReconnects {
				t.Errorf("options %+v", opts)
			}
		})
	}
	h := newHub(t, nothingHub{}, hub.Config{DisconnectTimeout: time.Second, AllowStatefulReconnects: true})
	if opts := h.TransportOptions(); opts.DisconnectTimeout != time.Second || !opts.AllowStatefulReconnects {
		t.Errorf("options %+v", opts)
	}
}

// TestConfigRefused: a field New cannot take is named in its error.
func TestConfigRefused(t *testing.T) {
	for _, c := range []struct {
		field string
		cfg   hub.Config
	}{
		{"KeepAliveInterval", hub.Config{KeepAliveInterval: -time.Second}},
		{"DisconnectTimeout", hub.Config{DisconnectTimeout: -time.Second}},
		{"MaxBufferedBytes", hub.Config{MaxBufferedBytes: -1}},
		{"MaxTransportMessageSize", hub.Config{MaxTransportMessageSize: -1}},
	} {
		h, err := hub.New(nothingHub{}, c.cfg)
		if err == nil {
			_ = h.Shutdown(t.Context())
		}
		if err == nil || !strings.Contains(err.Error(), "Config."+c.field) {
			t.Errorf("%s: error %v, want one naming it", c.field, err)
		}
	}
}

type echoOnly struct{}

func (echoOnly) Echo(s string) string { return s }

// TestZeroConfigBoundsHubMessages: a zero Config bounds hub messages with
// DefaultMaximumReceiveMessageSize, not "no limit": a message just under it
// is answered, one over it closes the connection as ASP.NET Core does.
func TestZeroConfigBoundsHubMessages(t *testing.T) {
	h := newHub(t, echoOnly{}, hub.Config{})
	overhead := len(`{"type":1,"invocationId":"1","target":"Echo","arguments":[""]}`)
	ok := dial(t, h, "ok", "")
	arg := strings.Repeat("x", hub.DefaultMaximumReceiveMessageSize-overhead)
	if got := ok.invoke("Echo", arg); got.Error != "" {
		t.Fatalf("a message at the limit: %+v", got.Error)
	}
	big := dial(t, h, "big", "")
	big.feed(`{"type":1,"invocationId":"1","target":"Echo","arguments":["` + arg + `x"]}`)
	testutil.Eventually(t, "the Close", func() bool {
		for _, m := range big.received() {
			if w := decode(t, m); w.Type == 7 {
				return w.Error == "Connection closed with an error." && w.AllowReconnect
			}
		}
		return false
	})
}
