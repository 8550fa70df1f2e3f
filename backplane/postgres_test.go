package backplane_test

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/backplane/pgtest"
	"github.com/actorhub/actorhub/internal/testutil"
)

// startPostgres is PostgreSQL under the contract: a server of the test's
// own (initdb into a temporary directory).
func startPostgres(t testing.TB) *server {
	srv := pgtest.Start(t)
	return &server{
		node: func(t testing.TB, prefix string) backplane.Backplane {
			return newPostgres(t, backplane.PostgresConfig{URL: srv.URL(), Prefix: prefix})
		},
		stop:    srv.Stop,
		restart: srv.Restart,
		deadURL: "postgres://postgres:secret@127.0.0.1:1/postgres?sslmode=disable",
	}
}

func newPostgres(t testing.TB, cfg backplane.PostgresConfig) *backplane.Postgres {
	t.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	p, err := backplane.NewPostgres(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// logBuffer is a slog handler's output, safe to read while written.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// cutOff makes role's connections fail: its backends are terminated and,
// until the returned func is called, it cannot log in again.
func cutOff(t *testing.T, srv *pgtest.Server, role string) (restore func()) {
	srv.Exec(`ALTER ROLE ` + role + ` NOLOGIN`)
	srv.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, role)
	return func() { srv.Exec(`ALTER ROLE ` + role + ` LOGIN`) }
}

// A node whose own database connections are cut (pg_terminate_backend),
// again and again and once for two seconds, while another node keeps
// publishing: once back, it has every message, in order, once.
func TestPostgresCutNodeReadsWhatItMissed(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)
	srv.Exec(`CREATE ROLE victim SUPERUSER LOGIN`)
	a := newPostgres(t, backplane.PostgresConfig{URL: srv.URL()})
	var logs logBuffer
	b := newPostgres(t, backplane.PostgresConfig{URL: srv.URLAs("victim"), ApplicationName: "victim", Logger: logs.logger()})
	var got inbox
	<-b.Subscribe("ch", got.handle)

	// a publishes until the cuts are over, a message every 2 ms or so.
	stop := make(chan struct{})
	count := make(chan int)
	go func() {
		i := 0
		defer func() { count <- i }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if a.Publish("ch", []byte(strconv.Itoa(i)), nil) == nil {
				i++
			}
		}
	}()
	for i := range 10 {
		restore := cutOff(t, srv, "victim")
		if i == 5 {
			time.Sleep(2 * time.Second) // away for a while
		} else {
			time.Sleep(50 * time.Millisecond) // a short cut, the behaviour under test
		}
		restore()
		testutil.EventuallyWithin(t, 10*time.Second, "b back", func() bool { return b.Stats().Reconnects == uint64(i+1) })
	}
	close(stop)
	n := <-count
	testutil.EventuallyWithin(t, 30*time.Second, "every message at b", func() bool { return len(got.get()) >= n })
	time.Sleep(200 * time.Millisecond) // the behaviour under test: no message comes twice, even a little later
	msgs := got.get()
	if len(msgs) != n {
		t.Fatalf("b got %d messages, want %d", len(msgs), n)
	}
	for i, m := range msgs {
		if m != "ch="+strconv.Itoa(i) {
			t.Fatalf("message %d: %q (lost, repeated or out of order)", i, m)
		}
	}
	t.Logf("%d messages published during 10 cuts", n)
	st := b.Stats()
	if st.Reconnects != 10 || st.Lost != 0 {
		t.Fatalf("b's stats: %+v", st)
	}
	if !strings.Contains(logs.String(), "reading what was missed") {
		t.Fatalf("b did not log its reconnection:\n%s", logs.String())
	}
	t.Logf("b: %d reconnects, lag %v", st.Reconnects, st.Lag)
}

// A node away for longer than the retention lost messages: it says so
// (log and Stats.Lost), and goes on with what is kept; the table stays
// within MaxRetained.
func TestPostgresAwayLongerThanRetention(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)
	srv.Exec(`CREATE ROLE victim SUPERUSER LOGIN`)
	// Retention is long: only MaxRetained trims, whatever the machine's speed.
	a := newPostgres(t, backplane.PostgresConfig{URL: srv.URL(), MaxRetained: 100, Retention: time.Hour})
	var logs logBuffer
	b := newPostgres(t, backplane.PostgresConfig{URL: srv.URLAs("victim"), Logger: logs.logger(), MaxRetained: 100, Retention: time.Hour})
	var got inbox
	<-b.Subscribe("ch", got.handle)
	publish(t, a, "ch", "before")
	testutil.EventuallyWithin(t, 5*time.Second, "before", func() bool { return len(got.get()) == 1 })

	restore := cutOff(t, srv, "victim")
	for i := range 500 {
		publish(t, a, "ch", strconv.Itoa(i))
	}
	testutil.EventuallyWithin(t, 30*time.Second, "the table trimmed to MaxRetained", func() bool {
		return srv.QueryInt(`SELECT count(*) FROM actorhub_messages`) <= 100
	})
	restore()
	publish(t, a, "ch", "after")
	testutil.EventuallyWithin(t, 20*time.Second, "after", func() bool {
		msgs := got.get()
		return msgs[len(msgs)-1] == "ch=after"
	})
	msgs := got.get()
	if len(msgs) < 3 || len(msgs) > 102 || msgs[len(msgs)-2] != "ch=499" {
		t.Fatalf("b got %d messages, last %q", len(msgs), msgs[max(0, len(msgs)-3):])
	}
	if lost := b.Stats().Lost; lost < 399 || int(lost)+len(msgs) != 502 {
		t.Fatalf("Lost %d with %d received of 502", lost, len(msgs))
	}
	if !strings.Contains(logs.String(), "away longer than the retention") {
		t.Fatalf("the loss was not logged:\n%s", logs.String())
	}
}

// A database crash empties the unlogged tables (subscriptions, nodes,
// messages not read): the nodes notice, write their subscriptions again,
// and messages flow and are counted again.
func TestPostgresCrash(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)
	a := newPostgres(t, backplane.PostgresConfig{URL: srv.URL()})
	b := newPostgres(t, backplane.PostgresConfig{URL: srv.URL()})
	var got inbox
	<-b.Subscribe("ch", got.handle)
	if n := publish(t, a, "ch", "before"); n != 1 {
		t.Fatalf("receivers: %d", n)
	}
	srv.Crash()
	srv.Restart()
	testutil.EventuallyWithin(t, 20*time.Second, "b's subscription written again and counted", func() bool {
		n, err := tryPublish(a, "ch", "after")
		return err == nil && n == 1
	})
	testutil.EventuallyWithin(t, 10*time.Second, "after", func() bool {
		msgs := got.get()
		return msgs[len(msgs)-1] == "ch=after"
	})
}

// A server that answers but refuses (no such database, role, password)
// is an error saying so at once, not "unreachable".
func TestPostgresRefused(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)
	start := time.Now()
	_, err := backplane.NewPostgres(backplane.PostgresConfig{URL: strings.Replace(srv.URL(), "/postgres?", "/nosuchdb?", 1)})
	if err == nil || !strings.Contains(err.Error(), "refused the connection") || !strings.Contains(err.Error(), "nosuchdb") || time.Since(start) > 5*time.Second {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
	t.Log(err)
	if _, err := backplane.NewPostgres(backplane.PostgresConfig{URL: srv.URL(), Prefix: "Bad-Prefix"}); err == nil || !strings.Contains(err.Error(), "Prefix") {
		t.Fatalf("a bad prefix: %v", err)
	}
}
