package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
	"golang.org/x/sys/unix"
)

func TestFlagsDefaultsMatchTheContract(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != ":5000" || o.conformance || o.keepAlive != 15*time.Second || o.clientTimeout != 30*time.Second ||
		o.handshakeTimeout != 15*time.Second || o.maxMessageSize != 32768 || o.statefulReconnect ||
		o.disconnectTimeout != 15*time.Second || o.detailedErrors || o.pprof ||
		o.transports != transports.AllTransports || o.longPollTimeout != 90*time.Second {
		t.Fatalf("defaults: %+v", o)
	}
}

// The flags' defaults are the library's: a zero hub.Config and
// transports.Config mean what the command line means without flags.
func TestFlagDefaultsAreTheLibrarys(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(chat{}, hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(t.Context())
	opts := h.TransportOptions()
	for _, c := range []struct {
		flag      string
		got, want any
	}{
		{"-keepalive", o.keepAlive, hub.DefaultKeepAliveInterval},
		{"-client-timeout", o.clientTimeout, hub.DefaultClientTimeoutInterval},
		{"-handshake-timeout", o.handshakeTimeout, hub.DefaultHandshakeTimeout},
		{"-max-message-size", o.hubMessageLimit(), hub.DefaultMaximumReceiveMessageSize},
		{"-disconnect-timeout", o.disconnectTimeout, opts.DisconnectTimeout},
		{"-stateful-reconnect", o.statefulReconnect, opts.AllowStatefulReconnects},
		{"-max-buffered", o.maxBuffered, hub.DefaultMaxBufferedBytes},
		{"-node-expiry", o.nodeExpiry, hub.DefaultNodeExpiry},
		{"-longpoll-timeout", o.longPollTimeout, transports.DefaultLongPollTimeout},
		{"-max-pending-connections", o.maxPending, transports.DefaultMaxPendingConnections},
		{"-transports", o.transports, transports.AllTransports},
	} {
		if c.got != c.want {
			t.Errorf("%s defaults to %v, the library to %v", c.flag, c.got, c.want)
		}
	}
}

// -max-message-size 0 means no limit on the command line (the conformance
// contract), which hub.Config spells with a negative value; transport
// messages keep a bound.
func TestFlagMaxMessageSizeZero(t *testing.T) {
	o, err := parseFlags([]string{"-max-message-size", "0"})
	if err != nil {
		t.Fatal(err)
	}
	if got := o.hubMessageLimit(); got >= 0 {
		t.Fatalf("-max-message-size 0 gives MaximumReceiveMessageSize %d, want negative (no limit)", got)
	}
	h, err := hub.New(chat{}, hub.Config{MaximumReceiveMessageSize: o.hubMessageLimit()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(t.Context())
	if n := h.TransportOptions().MaxTransportMessageSize; n <= 0 {
		t.Fatalf("transport messages unbounded: %d", n)
	}
}

// -tcp-keepalive reaches the accepted sockets: off, none has SO_KEEPALIVE.
func TestFlagTCPKeepAlive(t *testing.T) {
	for _, c := range []struct {
		flag string
		want int
	}{{"-1s", 0}, {"0", 1}} {
		o, err := parseFlags([]string{"-tcp-keepalive", c.flag, "-addr", "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := o.listen()
		if err != nil {
			t.Fatal(err)
		}
		cc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := sc.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var on int
		var serr error
		_ = raw.Control(func(fd uintptr) { on, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE) })
		cc.Close()
		sc.Close()
		ln.Close()
		if serr != nil || on != c.want {
			t.Fatalf("-tcp-keepalive %s: SO_KEEPALIVE %d (%v), want %d", c.flag, on, serr, c.want)
		}
	}
}

func TestFlagTransports(t *testing.T) {
	o, err := parseFlags([]string{"-transports", "websockets,sse"})
	if err != nil {
		t.Fatal(err)
	}
	if o.transports != transports.WebSockets|transports.ServerSentEvents {
		t.Fatalf("-transports websockets,sse: %v", o.transports)
	}
	if _, err := parseFlags([]string{"-transports", "smoke-signals"}); err == nil || !strings.Contains(err.Error(), "-transports") {
		t.Fatalf("a bad -transports: %v", err)
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	t.Setenv("ACTORHUB_CLIENT_TIMEOUT", "7s")
	t.Setenv("ACTORHUB_CONFORMANCE", "true")
	t.Setenv("ACTORHUB_MAX_MESSAGE_SIZE", "1000")
	o, err := parseFlags([]string{"-max-message-size", "2000"})
	if err != nil {
		t.Fatal(err)
	}
	if o.clientTimeout != 7*time.Second || !o.conformance {
		t.Fatalf("environment not read: %+v", o)
	}
	if o.maxMessageSize != 2000 {
		t.Fatalf("the command line must win over the environment: %d", o.maxMessageSize)
	}
	t.Setenv("ACTORHUB_KEEPALIVE", "soon")
	if _, err := parseFlags(nil); err == nil || !strings.Contains(err.Error(), "ACTORHUB_KEEPALIVE") {
		t.Fatalf("a bad value must name its variable: %v", err)
	}
}

func TestMetricsExposeHubCounters(t *testing.T) {
	h, err := hub.New(chat{}, hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(t.Context())
	m := newMetrics()
	m.add("chat", h)
	srv := httptest.NewServer(m.handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`actorhub_connections{hub="chat"} 0`,
		`actorhub_messages_sent_total{hub="chat"} 0`,
		`actorhub_closes_total{hub="chat",reason="slow_consumer"} 0`,
		`actorhub_connections_by_protocol{hub="chat",protocol="messagepack"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestTestTokens(t *testing.T) {
	for token, want := range map[string]string{"": "", "test:alice": "alice"} {
		if got, err := testTokens(nil, token); err != nil || got != want {
			t.Errorf("%q: %q, %v", token, got, err)
		}
	}
	for _, bad := range []string{"test:", "alice", "Bearer x"} {
		if _, err := testTokens(nil, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestJWTFlags(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := o.jwtConfig(); cfg != nil || err != nil || o.requireAuth {
		t.Fatalf("no JWT flags: %+v, %v", cfg, err)
	}

	keyFile := filepath.Join(t.TempDir(), "key.pem")
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if err := os.WriteFile(keyFile, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ACTORHUB_JWT_SECRET", "0123456789abcdef0123456789abcdef")
	o, err = parseFlags([]string{"-jwt-public-key", keyFile, "-jwt-issuer", "iss", "-jwt-audience", "aud",
		"-jwt-user-claim", "uid", "-require-auth"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.jwtConfig()
	if err != nil {
		t.Fatal(err)
	}
	if string(cfg.Secret) != "0123456789abcdef0123456789abcdef" || len(cfg.PublicKeys) != 1 || string(cfg.PublicKeys[0]) != string(pemKey) ||
		cfg.Issuer != "iss" || cfg.Audience != "aud" || cfg.UserClaim != "uid" || !o.requireAuth {
		t.Fatalf("mapping: %+v, requireAuth %v", cfg, o.requireAuth)
	}
	if a, err := o.chatAuth(); a == nil || err != nil {
		t.Fatalf("chatAuth: %v, %v", a, err)
	}
}

func TestJWTFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-require-auth"}, "-require-auth needs"},
		{[]string{"-jwt-issuer", "x"}, "-jwt-issuer needs"},
		{[]string{"-jwt-audience", "x"}, "-jwt-audience needs"},
		{[]string{"-jwt-user-claim", "uid"}, "-jwt-user-claim needs"},
		{[]string{"-jwt-public-key", "/nonexistent/key.pem"}, "-jwt-public-key"},
		{[]string{"-jwt-secret", "short"}, "Secret"},
	} {
		o, err := parseFlags(tc.args)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.chatAuth(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestFlagBackplane(t *testing.T) {
	o, err := parseFlags([]string{"-backplane", "nats://127.0.0.1:4222", "-backplane-prefix", "app"})
	if err != nil || o.backplaneURL != "nats://127.0.0.1:4222" || o.backplanePrefix != "app" {
		t.Fatalf("-backplane: %+v, %v", o, err)
	}
	// -redis keeps working, as -backplane with a redis:// URL.
	o, err = parseFlags([]string{"-redis", "redis://127.0.0.1:6379/0", "-redis-prefix", "p:"})
	if err != nil || o.backplaneURL != "redis://127.0.0.1:6379/0" || o.backplanePrefix != "p:" {
		t.Fatalf("-redis: %+v, %v", o, err)
	}
	t.Setenv("ACTORHUB_BACKPLANE", "postgres://u@127.0.0.1/db")
	o, err = parseFlags(nil)
	if err != nil || o.backplaneURL != "postgres://u@127.0.0.1/db" {
		t.Fatalf("ACTORHUB_BACKPLANE: %+v, %v", o, err)
	}
	if _, err := parseFlags([]string{"-redis", "redis://127.0.0.1:6379/0"}); err == nil || !strings.Contains(err.Error(), "-redis and -backplane both given") {
		t.Fatalf("-redis with ACTORHUB_BACKPLANE: %v", err)
	}
	t.Setenv("ACTORHUB_BACKPLANE", "")
	if _, err := parseFlags([]string{"-backplane-prefix", "a", "-redis-prefix", "b"}); err == nil || !strings.Contains(err.Error(), "-redis-prefix and -backplane-prefix") {
		t.Fatalf("two prefixes: %v", err)
	}
}

// A backplane that does not answer, or a URL that names none, stops the
// server at start within seconds, with an error that names the server
// (never its password).
func TestBackplaneUnreachableAtStart(t *testing.T) {
	for url, want := range map[string]string{
		"redis://:secret@127.0.0.1:1/0":                                   "redis at 127.0.0.1:1 unreachable",
		"postgres://postgres:secret@127.0.0.1:1/postgres?sslmode=disable": "postgres at 127.0.0.1:1 unreachable",
		"postgresql://postgres:secret@127.0.0.1:1/postgres":               "postgres at 127.0.0.1:1 unreachable",
		"nats://u:secret@127.0.0.1:1":                                     "nats at 127.0.0.1:1 unreachable",
		"redis-cluster://:secret@127.0.0.1:1":                             "redis-cluster at 127.0.0.1:1 unreachable",
		"http://u:secret@127.0.0.1:1":                                     "not a backplane URL",
		"postgres://127.0.0.1:notaport/db":                                "PostgresConfig.URL",
	} {
		o, err := parseFlags([]string{"-backplane", url, "-addr", "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = run(o)
		if err == nil || !strings.Contains(err.Error(), want) || time.Since(start) > 5*time.Second {
			t.Errorf("%s: %v after %v, want %q", url, err, time.Since(start), want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error shows the password: %v", url, err)
		}
	}
}

func TestMetricsExposeBackplane(t *testing.T) {
	node := backplane.NewMemory().Node()
	defer node.Close()
	_ = node.Publish("x", []byte("m"), nil)
	m := newMetrics()
	m.addBackplane("memory", node)
	srv := httptest.NewServer(m.handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`actorhub_backplane_up{backplane="memory"} 1`,
		`actorhub_backplane_published_total{backplane="memory"} 1`,
		`actorhub_backplane_errors_total{backplane="memory"} 0`,
		`actorhub_backplane_lost_total{backplane="memory"} 0`,
		`actorhub_backplane_lag_seconds{backplane="memory"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// The README's flag table and -h list the same flags, and -h says how the
// environment sets them.
func TestReadmeListsEveryFlag(t *testing.T) {
	var out strings.Builder
	usageOutput = &out
	defer func() { usageOutput = os.Stderr }()
	if _, err := parseFlags([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	help := out.String()
	if !strings.Contains(help, "ACTORHUB_<FLAG>") || !strings.HasPrefix(help, "actorhub server: ") {
		t.Fatalf("-h has no summary or does not mention ACTORHUB_<FLAG>:\n%s", help)
	}
	inHelp := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(help, -1) {
		inHelp[m[1]] = true
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	inReadme := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `-([a-z0-9-]+)` \\|").FindAllSubmatch(readme, -1) {
		inReadme[string(m[1])] = true
	}
	if len(inHelp) < 10 {
		t.Fatalf("found only %d flags in -h:\n%s", len(inHelp), help)
	}
	for f := range inHelp {
		if !inReadme[f] {
			t.Errorf("-%s is in -h but not in the README's flag table", f)
		}
	}
	for f := range inReadme {
		if !inHelp[f] {
			t.Errorf("-%s is in the README's flag table but not a flag", f)
		}
	}
}

func TestServiceFlags(t *testing.T) {
	o, err := parseFlags([]string{"-upstream-hub", "a=http://x/{event}", "-upstream-hub", "b_2=http://y/{hub}/{category}/{event}"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.upstreams) != 2 || o.upstreams[1].name != "b_2" || o.upstreams[1].template != "http://y/{hub}/{category}/{event}" {
		t.Fatalf("upstreams: %+v", o.upstreams)
	}
	for _, bad := range [][]string{
		{"-upstream-hub", "noequals"},
		{"-upstream-hub", "1bad=http://x"},
		{"-upstream-hub", "a="},
		{"-upstream-hub", "a=http://x", "-upstream-hub", "A=http://y"},
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	t.Setenv("ACTORHUB_UPSTREAM_HUB", "one=http://x/1 two=http://x/2")
	t.Setenv("ACTORHUB_ACCESS_KEY", "short")
	o, err = parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.upstreams) != 2 || o.accessKey != "short" {
		t.Fatalf("from the environment: %+v", o)
	}
	if _, err := newServiceSetup(o, nil); err == nil || !strings.Contains(err.Error(), "-access-key") {
		t.Fatalf("a short key: %v", err)
	}
}
