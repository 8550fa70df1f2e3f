package backplane

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresConfig configures a PostgreSQL backplane. The zero value of
// every field but URL works.
type PostgresConfig struct {
	// URL of the database: postgres://user:password@host:port/db (or
	// postgresql://, or a key=value connection string; host may be a
	// Unix socket directory). The user creates the backplane's tables
	// in the first schema of its search_path if they are missing.
	// Required.
	URL string
	// Prefix names the tables (Prefix_messages, Prefix_counter,
	// Prefix_subscriptions, Prefix_nodes, Prefix_presence) and the
	// NOTIFY channel, so several deployments can share one database:
	// lower-case letters, digits and underscores, starting with a
	// letter, at most 40. Default "actorhub".
	Prefix string
	// ApplicationName is this node's application_name in
	// pg_stat_activity, unless the URL sets one. Default "actorhub".
	ApplicationName string
	// DialTimeout bounds connecting, also at start (a server that refuses
	// fails at once). A new connection is a new backend process, slower to
	// set up than Redis' or NATS': 0 means 5 s.
	DialTimeout time.Duration
	// OpTimeout bounds one statement (a batch of publishes, a page of
	// reads, a presence update). 0 means 2 s.
	OpTimeout time.Duration
	// QueueSize is how many publishes may wait to be written; past it
	// Publish fails. 0 means 65,536.
	QueueSize int
	// Retention is how long a message stays in the table: a node that
	// lost its connection reads what it missed when it is back within
	// Retention. Each node cleans the table every Retention/4 (at least
	// 1 s, at most 5 s). 0 means 1 minute.
	Retention time.Duration
	// MaxRetained bounds the table: past it the oldest messages go,
	// whatever their age. 0 means 100,000.
	MaxRetained int
	// PollInterval: a node reads the table this often even when no
	// notification wakes it (a safety net, and a check of its
	// connection). 0 means 1 s.
	PollInterval time.Duration
	// NodeTTL: a node that stops refreshing its row (every NodeTTL/3)
	// stops counting among the receivers of its channels after NodeTTL.
	// 0 means 15 s.
	NodeTTL time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Postgres is a Backplane on a PostgreSQL database, in the way of
// classic ASP.NET SignalR's SQL Server scale-out: messages go into a
// table under an id that grows by one per message, NOTIFY only wakes the
// nodes, and each node reads the table from the last id it read. A node
// that lost its connection reads what it missed, in order, when it is
// back (within Retention); a node that comes back later logs how many
// messages it lost and goes on from the oldest kept.
//
// Ordering: a publishing statement takes its ids by incrementing the one
// row of Prefix_counter, and holds that row's lock until it commits, so
// ids are given in commit order and without gaps: a reader that has seen
// id n has seen every id below it, and a gap means messages deleted by
// retention. (A sequence would let a transaction that took a lower id
// commit after one with a higher id, and a reader between the two would
// skip it for good.) Publishers of all nodes take turns on that row,
// one statement per batch of queued publishes, committed without waiting
// for the disk (synchronous_commit off: a backplane's messages are
// short-lived, and a database crash loses at most the last moments).
//
// Subscriptions: each node records the channels it subscribes to in
// Prefix_subscriptions, so that a node reads the payload only of its
// own channels (the other rows it reads as ids alone), and a publish
// knows how many nodes receive it. The tables of messages, subscriptions,
// nodes and presence are UNLOGGED (not written to the WAL, emptied by a
// crash, not replicated); after a crash or a failover each node records
// its subscriptions again before it reads.
type Postgres struct {
	cfg     PostgresConfig
	log     *slog.Logger
	pool    *pgxpool.Pool   // publishes, subscriptions, presence, upkeep
	connCfg *pgx.ConnConfig // for the listening connection
	addr    string          // host:port, for logs and errors
	node    string          // this node's row in the nodes and subscriptions tables
	sql     pgStatements

	queue   chan publish
	queueMu sync.RWMutex // held (read) while a publish is queued, (write) by Close: none is queued after
	down    atomic.Bool
	probing atomic.Bool
	reading atomic.Bool  // the reader's connection is up
	cursor  atomic.Int64 // the last id read; written by the reader only

	mu       sync.Mutex
	handlers map[string]Handler         // guarded by mu
	dirty    map[string][]chan struct{} // channels whose row may differ from handlers -> subscribers waiting; guarded by mu
	resyncs  []chan error               // readers waiting for every row to be written again; guarded by mu
	signal   chan struct{}              // capacity 1: dirty or resyncs is not empty

	counters
	warned every

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

var (
	_ Backplane     = (*Postgres)(nil)
	_ StatsReporter = (*Postgres)(nil)
)

var pgPrefix = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

const (
	pgPageSize      = 256     // rows read at once
	pgMaxBatch      = 256     // publishes written at once
	pgMaxBatchBytes = 4 << 20 // bytes of payload written at once (one message may be larger)
)

// NewPostgres connects to the database, creates the tables if they are
// missing and starts following the messages published from now on. A
// database that does not answer within DialTimeout is an error naming
// it, not a wait.
func NewPostgres(cfg PostgresConfig) (*Postgres, error) {
	if cfg.URL == "" {
		return nil, errors.New("backplane: PostgresConfig.URL is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "actorhub"
	}
	if !pgPrefix.MatchString(cfg.Prefix) {
		return nil, fmt.Errorf("backplane: PostgresConfig.Prefix %q: want lower-case letters, digits and underscores, starting with a letter, at most 40", cfg.Prefix)
	}
	if cfg.ApplicationName == "" {
		cfg.ApplicationName = "actorhub"
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = 2 * time.Second
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 65536
	}
	if cfg.Retention <= 0 {
		cfg.Retention = time.Minute
	}
	if cfg.MaxRetained <= 0 {
		cfg.MaxRetained = 100000
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.NodeTTL <= 0 {
		cfg.NodeTTL = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("backplane: PostgresConfig.URL: %w", err)
	}
	cc := pcfg.ConnConfig
	cc.ConnectTimeout = cfg.DialTimeout
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	if cc.RuntimeParams["application_name"] == "" {
		cc.RuntimeParams["application_name"] = cfg.ApplicationName
	}
	if cc.RuntimeParams["synchronous_commit"] == "" {
		cc.RuntimeParams["synchronous_commit"] = "off"
	}
	// Short statements over small tables: compiling them (JIT, on by
	// default where PostgreSQL has LLVM) costs hundreds of milliseconds
	// whenever the planner overestimates the rows.
	if cc.RuntimeParams["jit"] == "" {
		cc.RuntimeParams["jit"] = "off"
	}
	pcfg.MaxConns = 4
	pcfg.MinConns = 0
	pcfg.MaxConnIdleTime = time.Minute
	pcfg.HealthCheckPeriod = 5 * time.Second
	var b [8]byte
	rand.Read(b[:])
	p := &Postgres{
		cfg: cfg, connCfg: cc.Copy(), node: hex.EncodeToString(b[:]),
		addr:     pgAddr(cc),
		sql:      pgSQL(cfg.Prefix),
		queue:    make(chan publish, cfg.QueueSize),
		handlers: make(map[string]Handler),
		dirty:    make(map[string][]chan struct{}),
		signal:   make(chan struct{}, 1),
	}
	p.log = cfg.Logger.With("backplane", "postgres", "server", p.addr)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	ctx, cancel := context.WithTimeout(p.ctx, cfg.DialTimeout+cfg.OpTimeout)
	defer cancel()
	fail := func(what string, err error) (*Postgres, error) {
		p.cancel()
		if p.pool != nil {
			p.pool.Close()
		}
		var pe *pgconn.PgError
		if what == "unreachable" && errors.As(err, &pe) {
			what = "refused the connection" // it answered: a role, password or database is wrong
		}
		return nil, fmt.Errorf("backplane: postgres at %s %s: %w", p.addr, what, err)
	}
	if p.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return fail("unreachable", err)
	}
	if err := p.pool.Ping(ctx); err != nil {
		return fail("unreachable", err)
	}
	if err := p.ensureSchema(ctx); err != nil {
		return fail("cannot create the backplane's tables", err)
	}
	if _, err := p.pool.Exec(ctx, p.sql.heartbeat, p.node, cfg.NodeTTL); err != nil {
		return fail("unusable", err)
	}
	listener, err := p.listen(ctx)
	if err != nil {
		return fail("unusable", err)
	}
	var start int64
	if err := listener.QueryRow(ctx, p.sql.counter).Scan(&start); err != nil {
		listener.Close(ctx)
		return fail("unusable", err)
	}
	p.cursor.Store(start)
	p.reading.Store(true)
	// Owner of these and of the probe markDown starts: the Postgres (wg).
	// Close cancels ctx, which every one of them returns on, and waits.
	p.wg.Add(4)
	go p.publishLoop()
	go p.readLoop(listener)
	go p.subscribeLoop()
	go p.upkeep()
	return p, nil
}

func pgAddr(cc *pgx.ConnConfig) string {
	if strings.HasPrefix(cc.Host, "/") {
		return cc.Host + "/.s.PGSQL." + strconv.Itoa(int(cc.Port))
	}
	return net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port)))
}

// pgStatements are the backplane's SQL, with the table names of its
// prefix.
type pgStatements struct {
	schema, channel                        string
	publish, read, counter                 string
	subscribe, unsubscribe, resync         string
	heartbeat, leave, trim, expire, orphan string
	putPresence, presence, dropPresence    string
}

func pgSQL(prefix string) pgStatements {
	r := strings.NewReplacer("P_", prefix+"_", "$CHANNEL", prefix)
	s := pgStatements{
		schema: `
CREATE TABLE IF NOT EXISTS P_counter (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	id bigint NOT NULL
);
INSERT INTO P_counter (one, id) VALUES (true, 0) ON CONFLICT DO NOTHING;
CREATE UNLOGGED TABLE IF NOT EXISTS P_messages (
	id bigint PRIMARY KEY,
	channel bytea NOT NULL,
	payload bytea NOT NULL,
	created timestamptz NOT NULL DEFAULT clock_timestamp()
);
ALTER TABLE P_messages ALTER COLUMN payload SET STORAGE EXTERNAL;
CREATE UNLOGGED TABLE IF NOT EXISTS P_nodes (
	node text PRIMARY KEY,
	expires timestamptz NOT NULL
);
CREATE UNLOGGED TABLE IF NOT EXISTS P_subscriptions (
	channel bytea NOT NULL,
	node text NOT NULL,
	since bigint NOT NULL,
	PRIMARY KEY (channel, node)
);
CREATE INDEX IF NOT EXISTS P_subscriptions_node ON P_subscriptions (node);
CREATE UNLOGGED TABLE IF NOT EXISTS P_presence (
	set_name bytea NOT NULL,
	node bytea NOT NULL,
	counts jsonb NOT NULL,
	expires timestamptz NOT NULL,
	PRIMARY KEY (set_name, node)
);`,
		channel: `"$CHANNEL"`,
		// The counter row's lock, held until commit, orders the ids as
		// the commits; pg_notify is sent at commit.
		publish: `
WITH c AS (
	UPDATE P_counter SET id = id + cardinality($1::bytea[]) RETURNING id
), m AS (
	INSERT INTO P_messages (id, channel, payload)
	SELECT c.id - cardinality($1::bytea[]) + t.n, t.channel, t.payload
	FROM c, unnest($1::bytea[], $2::bytea[]) WITH ORDINALITY AS t(channel, payload, n)
	RETURNING id, channel
)
SELECT m.id, (SELECT count(*) FROM P_subscriptions s JOIN P_nodes n ON n.node = s.node
              WHERE s.channel = m.channel AND n.expires > now())
FROM m, (SELECT pg_notify('$CHANNEL', id::text) FROM c) AS woken
ORDER BY m.id`,
		// Every id past the cursor (so gaps show), the payload only of
		// this node's channels, subscribed before the message.
		read: `
SELECT m.id, m.channel,
	CASE WHEN EXISTS (SELECT 1 FROM P_subscriptions s WHERE s.channel = m.channel AND s.node = $2 AND s.since < m.id)
	THEN m.payload END,
	(extract(epoch FROM clock_timestamp() - m.created) * 1000000)::bigint
FROM P_messages m WHERE m.id > $1 ORDER BY m.id LIMIT $3`,
		counter: `SELECT id FROM P_counter`,
		subscribe: `
INSERT INTO P_subscriptions (channel, node, since)
SELECT c, $2, (SELECT id FROM P_counter) FROM unnest($1::bytea[]) AS c
ON CONFLICT (channel, node) DO NOTHING`,
		unsubscribe: `DELETE FROM P_subscriptions WHERE node = $2 AND channel = ANY($1::bytea[])`,
		resync: `
WITH gone AS (DELETE FROM P_subscriptions WHERE node = $2 AND NOT (channel = ANY($1::bytea[])))
INSERT INTO P_subscriptions (channel, node, since)
SELECT c, $2, $3 FROM unnest($1::bytea[]) AS c
ON CONFLICT (channel, node) DO NOTHING`,
		heartbeat: `
INSERT INTO P_nodes (node, expires) VALUES ($1, now() + $2::interval)
ON CONFLICT (node) DO UPDATE SET expires = EXCLUDED.expires`,
		leave:  `WITH s AS (DELETE FROM P_subscriptions WHERE node = $1) DELETE FROM P_nodes WHERE node = $1`,
		trim:   `DELETE FROM P_messages WHERE id <= $1`,
		expire: `DELETE FROM P_presence WHERE expires < now()`,
		// Nodes gone for longer than the retention, and their rows.
		orphan: `
WITH dead AS (DELETE FROM P_nodes WHERE expires < now() - $1::interval RETURNING node)
DELETE FROM P_subscriptions s USING dead WHERE s.node = dead.node`,
		putPresence: `
INSERT INTO P_presence (set_name, node, counts, expires) VALUES ($1, $2, $3::jsonb, now() + $4::interval)
ON CONFLICT (set_name, node) DO UPDATE SET counts = EXCLUDED.counts, expires = EXCLUDED.expires`,
		presence:     `SELECT node, COALESCE((counts->>$2)::bigint, 0) FROM P_presence WHERE set_name = $1 AND expires > now()`,
		dropPresence: `DELETE FROM P_presence WHERE set_name = $1 AND node = $2`,
	}
	for _, q := range []*string{&s.schema, &s.channel, &s.publish, &s.read, &s.counter, &s.subscribe, &s.unsubscribe,
		&s.resync, &s.heartbeat, &s.leave, &s.trim, &s.expire, &s.orphan, &s.putPresence, &s.presence, &s.dropPresence} {
		*q = r.Replace(*q)
	}
	return s
}

// ensureSchema creates what is missing, one node at a time.
func (p *Postgres) ensureSchema(ctx context.Context) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "actorhub backplane schema "+p.cfg.Prefix); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = on`); err != nil { // the tables, unlike messages, must last
			return err
		}
		_, err := tx.Exec(ctx, p.sql.schema)
		return err
	})
}

// listen opens the connection that reads: LISTEN for the wake-ups.
func (p *Postgres) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, p.connCfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `LISTEN `+p.sql.channel); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// Publish implements Backplane. done's receivers is the number of nodes
// subscribed to channel when the message was written (this node
// included), among those that refreshed their row within NodeTTL.
func (p *Postgres) Publish(channel string, msg []byte, done func(int, error)) error {
	p.queueMu.RLock()
	defer p.queueMu.RUnlock()
	if p.closed.Load() {
		return ErrClosed
	}
	if p.down.Load() {
		p.publishErrors.Add(1)
		return ErrUnavailable
	}
	select {
	case p.queue <- publish{channel: channel, msg: msg, done: done}:
		return nil
	default:
		p.publishErrors.Add(1)
		return fmt.Errorf("%w: %d publishes waiting", ErrUnavailable, cap(p.queue))
	}
}

// publishLoop writes what is queued, a batch per statement, in order.
func (p *Postgres) publishLoop() {
	defer p.wg.Done()
	batch := make([]publish, 0, pgMaxBatch)
	for {
		select {
		case <-p.ctx.Done():
			failQueued(p.queue, ErrClosed)
			return
		case m := <-p.queue:
			batch = append(batch[:0], m)
		}
		size := len(batch[0].msg)
	more:
		for len(batch) < cap(batch) && size < pgMaxBatchBytes {
			select {
			case m := <-p.queue:
				batch = append(batch, m)
				size += len(m.msg)
			default:
				break more
			}
		}
		p.publishBatch(batch)
		clear(batch)
	}
}

func (p *Postgres) publishBatch(batch []publish) {
	fail := func(err error) {
		p.publishErrors.Add(uint64(len(batch)))
		for _, m := range batch {
			if m.done != nil {
				m.done(0, err)
			}
		}
	}
	if p.down.Load() {
		fail(ErrUnavailable)
		return
	}
	channels := make([][]byte, len(batch))
	payloads := make([][]byte, len(batch))
	for i, m := range batch {
		channels[i], payloads[i] = []byte(m.channel), m.msg
	}
	receivers := make([]int, 0, len(batch))
	bo := newBackoff(20*time.Millisecond, 200*time.Millisecond)
	deadline := time.Now().Add(p.cfg.OpTimeout)
	var err error
	for {
		receivers = receivers[:0]
		err = p.insert(channels, payloads, &receivers)
		if err == nil || p.ctx.Err() != nil || !pgRetryable(err) || time.Now().Add(bo.next).After(deadline) {
			break
		}
		p.errors.Add(1)
		if pgMissingTable(err) {
			p.log.Warn("backplane: the tables are gone; creating them again", "err", err)
			ctx, cancel := context.WithTimeout(p.ctx, p.cfg.OpTimeout)
			_ = p.ensureSchema(ctx)
			cancel()
		}
		sleepCtx(p.ctx, bo.wait())
	}
	if err != nil {
		if p.ctx.Err() != nil {
			fail(ErrClosed)
			return
		}
		p.errors.Add(1)
		p.log.Error("backplane: publish to postgres failed; cross-node sends fail until it answers", "err", err, "messages", len(batch))
		p.markDown()
		fail(fmt.Errorf("%w: %v", ErrUnavailable, err))
		return
	}
	p.published.Add(uint64(len(batch)))
	for i, m := range batch {
		if m.done != nil {
			m.done(receivers[i], nil)
		}
	}
}

func (p *Postgres) insert(channels, payloads [][]byte, receivers *[]int) error {
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.OpTimeout)
	defer cancel()
	rows, err := p.pool.Query(ctx, p.sql.publish, channels, payloads)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return err
		}
		*receivers = append(*receivers, int(n))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(*receivers) != len(channels) {
		return fmt.Errorf("backplane: postgres wrote %d of %d messages", len(*receivers), len(channels))
	}
	return nil
}

// pgRetryable: the statement certainly did not take effect, and may
// succeed if tried again (on a new connection).
func pgRetryable(err error) bool {
	if pgconn.SafeToRetry(err) {
		return true
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false // e.g. the connection broke after the statement was sent: its outcome is unknown
	}
	switch pe.Code[:2] {
	case "08", "57", "40", "53": // connection, operator intervention (a terminated backend), rollback, resources
		return true
	}
	return pe.Code == "42P01" // a table is gone: created again before the retry
}

func pgMissingTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01"
}

func failQueued(q chan publish, err error) {
	for {
		select {
		case m := <-q:
			if m.done != nil {
				m.done(0, err)
			}
		default:
			return
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// markDown makes publishes fail at once and starts the probe that finds
// out when the database answers again.
func (p *Postgres) markDown() {
	p.down.Store(true)
	if p.ctx.Err() != nil || !p.probing.CompareAndSwap(false, true) {
		return
	}
	// markDown runs on publishLoop, which holds a count of wg: this Add
	// never races Close's Wait at zero.
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.probing.Store(false)
		bo := newBackoff(100*time.Millisecond, 2*time.Second)
		for {
			sleepCtx(p.ctx, bo.wait())
			if p.ctx.Err() != nil {
				return
			}
			ctx, cancel := context.WithTimeout(p.ctx, p.cfg.OpTimeout)
			_, err := p.pool.Exec(ctx, p.sql.heartbeat, p.node, p.cfg.NodeTTL)
			cancel()
			if err == nil {
				p.down.Store(false)
				p.log.Info("backplane: postgres answers again")
				return
			}
			p.errors.Add(1)
		}
	}()
}

// readLoop follows the messages table on its own connection: it reads
// every id past the cursor, then waits for a notification or
// PollInterval. When the connection fails it connects again (with
// backoff), writes its subscriptions again, and reads what it missed.
func (p *Postgres) readLoop(conn *pgx.Conn) {
	defer p.wg.Done()
	bo := newBackoff(50*time.Millisecond, 2*time.Second)
	for {
		err := p.follow(conn)
		p.reading.Store(false)
		conn.Close(context.Background())
		if p.ctx.Err() != nil {
			return
		}
		p.errors.Add(1)
		p.log.Warn("backplane: lost the postgres connection that reads; reading what was missed once it is back", "err", err, "after_id", p.cursor.Load())
		for {
			sleepCtx(p.ctx, bo.wait())
			if p.ctx.Err() != nil {
				return
			}
			if conn, err = p.rejoin(); err == nil {
				break
			}
			p.errors.Add(1)
			if p.warned.allow(10 * time.Second) {
				p.log.Warn("backplane: postgres still unreachable", "err", err)
			}
		}
		bo.reset()
		p.reading.Store(true)
		p.reconnects.Add(1)
		p.log.Info("backplane: postgres connection back; reading what was missed", "after_id", p.cursor.Load())
	}
}

// rejoin connects the reader again: the tables exist, the counter has not
// gone back (a database restored or replaced: then the cursor follows it),
// and every subscription of this node is written again (a crash empties
// the unlogged tables) before anything is read.
func (p *Postgres) rejoin() (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.DialTimeout+2*p.cfg.OpTimeout)
	defer cancel()
	if err := p.ensureSchema(ctx); err != nil {
		return nil, err
	}
	conn, err := p.listen(ctx)
	if err != nil {
		return nil, err
	}
	var counter int64
	if err := conn.QueryRow(ctx, p.sql.counter).Scan(&counter); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	if cur := p.cursor.Load(); counter < cur {
		p.log.Warn("backplane: the postgres message counter went back (database restored or replaced?); following it", "from_id", cur, "to_id", counter)
		p.cursor.Store(counter)
	}
	done := make(chan error, 1)
	p.mu.Lock()
	p.resyncs = append(p.resyncs, done)
	p.mu.Unlock()
	p.wake()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("writing the subscriptions again: %w", err)
	}
	return conn, nil
}

func (p *Postgres) follow(conn *pgx.Conn) error {
	for {
		if err := p.readAll(conn); err != nil {
			return err
		}
		for {
			ctx, cancel := context.WithTimeout(p.ctx, p.cfg.PollInterval)
			n, err := conn.WaitForNotification(ctx)
			cancel()
			if err != nil {
				if p.ctx.Err() != nil {
					return p.ctx.Err()
				}
				if pgconn.Timeout(err) && !conn.IsClosed() {
					break // time to poll
				}
				return err
			}
			if id, err := strconv.ParseInt(n.Payload, 10, 64); err != nil || id > p.cursor.Load() {
				break
			}
			// A wake-up for what was read already.
		}
	}
}

// readAll reads pages until one is not full.
func (p *Postgres) readAll(conn *pgx.Conn) error {
	for {
		n, err := p.readPage(conn)
		if err != nil || n < pgPageSize {
			return err
		}
	}
}

func (p *Postgres) readPage(conn *pgx.Conn) (int, error) {
	ctx, cancel := context.WithTimeout(p.ctx, 5*p.cfg.OpTimeout)
	defer cancel()
	cursor := p.cursor.Load()
	rows, err := conn.Query(ctx, p.sql.read, cursor, p.node, pgPageSize)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id, lag int64
		if err := rows.Scan(&id, nil, nil, &lag); err != nil {
			return n, err
		}
		n++
		if id != cursor+1 {
			missed := id - cursor - 1
			p.lost.Add(uint64(missed))
			p.log.Error("backplane: messages were deleted before this node read them: it was away longer than the retention, or fell behind by more than MaxRetained",
				"lost", missed, "from_id", cursor+1, "to_id", id-1, "retention", p.cfg.Retention, "max_retained", p.cfg.MaxRetained)
		}
		cursor = id
		p.cursor.Store(id)
		p.lag.Store(lag * int64(time.Microsecond))
		raw := rows.RawValues()
		payload := raw[2]
		if payload == nil {
			continue // not ours
		}
		channel := string(raw[1])
		p.received.Add(1)
		p.mu.Lock()
		h := p.handlers[channel]
		p.mu.Unlock()
		if h != nil {
			h(channel, payload)
		}
	}
	return n, rows.Err()
}

// Subscribe implements Backplane: the subscription is in effect once its
// row is written.
func (p *Postgres) Subscribe(channel string, h Handler) <-chan struct{} {
	ready := make(chan struct{})
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		close(ready)
		return ready
	}
	p.handlers[channel] = h
	if p.down.Load() {
		close(ready) // written when the database is back
		p.dirty[channel] = p.dirty[channel]
	} else {
		p.dirty[channel] = append(p.dirty[channel], ready)
	}
	p.wakeLocked()
	return ready
}

// Unsubscribe implements Backplane.
func (p *Postgres) Unsubscribe(channel string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.handlers, channel)
	if !p.closed.Load() {
		p.dirty[channel] = p.dirty[channel]
		p.wakeLocked()
	}
}

func (p *Postgres) wake() {
	p.mu.Lock()
	p.wakeLocked()
	p.mu.Unlock()
}

func (p *Postgres) wakeLocked() {
	select {
	case p.signal <- struct{}{}:
	default:
	}
}

// subscribeLoop makes the subscriptions table match the handlers: it
// alone writes this node's rows, so changes apply in the order of the
// calls. A failed write releases the subscribers waiting (the change
// takes effect when the database is back) and is tried again with
// backoff.
func (p *Postgres) subscribeLoop() {
	defer p.wg.Done()
	bo := newBackoff(50*time.Millisecond, 2*time.Second)
	for {
		select {
		case <-p.ctx.Done():
			p.mu.Lock()
			for _, ws := range p.dirty {
				closeAll(ws)
			}
			clear(p.dirty)
			for _, r := range p.resyncs {
				r <- ErrClosed
			}
			p.resyncs = nil
			p.mu.Unlock()
			return
		case <-p.signal:
		}
		for p.ctx.Err() == nil {
			p.mu.Lock()
			if len(p.dirty) == 0 && len(p.resyncs) == 0 {
				p.mu.Unlock()
				break
			}
			taken, resyncs := p.dirty, p.resyncs
			p.dirty, p.resyncs = make(map[string][]chan struct{}), nil
			var subs, unsubs []string
			if len(resyncs) > 0 {
				subs = slices.Collect(mapKeys(p.handlers))
			} else {
				for ch := range taken {
					if _, ok := p.handlers[ch]; ok {
						subs = append(subs, ch)
					} else {
						unsubs = append(unsubs, ch)
					}
				}
			}
			p.mu.Unlock()
			err := p.writeSubscriptions(len(resyncs) > 0, subs, unsubs)
			for _, ws := range taken {
				closeAll(ws)
			}
			for _, r := range resyncs {
				r <- err
			}
			if err == nil {
				bo.reset()
				continue
			}
			if p.ctx.Err() != nil {
				break
			}
			p.errors.Add(1)
			if p.warned.allow(10 * time.Second) {
				p.log.Warn("backplane: writing subscriptions to postgres failed; retrying", "err", err)
			}
			p.mu.Lock()
			for ch := range taken {
				p.dirty[ch] = p.dirty[ch]
			}
			p.mu.Unlock()
			sleepCtx(p.ctx, bo.wait())
		}
	}
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (p *Postgres) writeSubscriptions(resync bool, subs, unsubs []string) error {
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.OpTimeout)
	defer cancel()
	if resync {
		_, err := p.pool.Exec(ctx, p.sql.resync, byteSlices(subs), p.node, p.cursor.Load())
		return err
	}
	if len(unsubs) > 0 {
		if _, err := p.pool.Exec(ctx, p.sql.unsubscribe, byteSlices(unsubs), p.node); err != nil {
			return err
		}
	}
	if len(subs) > 0 {
		if _, err := p.pool.Exec(ctx, p.sql.subscribe, byteSlices(subs), p.node); err != nil {
			return err
		}
	}
	return nil
}

// byteSlices: channel names go to bytea columns (a name may hold any
// byte, which text cannot).
func byteSlices(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// upkeep refreshes this node's row every NodeTTL/3, and keeps the tables
// small: messages past Retention or MaxRetained, expired presence, nodes
// gone for longer than Retention. Every node does it; the deletes are the
// same whoever runs them.
func (p *Postgres) upkeep() {
	defer p.wg.Done()
	beat := max(p.cfg.NodeTTL/3, 100*time.Millisecond)
	cleanEvery := min(max(p.cfg.Retention/4, time.Second), 5*time.Second)
	t := time.NewTicker(min(beat, cleanEvery))
	defer t.Stop()
	type sample struct {
		at time.Time
		id int64
	}
	var samples []sample // the counter, at every cleaning: ids older than Retention are below the sample taken Retention ago
	var lastBeat, lastClean time.Time
	var trimmed int64
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		if p.down.Load() {
			continue // the probe finds out when it is back
		}
		if now.Sub(lastBeat) >= beat {
			lastBeat = now
			p.exec(p.sql.heartbeat, p.node, p.cfg.NodeTTL)
		}
		if now.Sub(lastClean) < cleanEvery {
			continue
		}
		lastClean = now
		ctx, cancel := context.WithTimeout(p.ctx, p.cfg.OpTimeout)
		var counter int64
		err := p.pool.QueryRow(ctx, p.sql.counter).Scan(&counter)
		cancel()
		if err != nil {
			p.errors.Add(1)
			continue
		}
		samples = append(samples, sample{now, counter})
		cut := counter - int64(p.cfg.MaxRetained)
		for len(samples) > 1 && now.Sub(samples[1].at) >= p.cfg.Retention {
			samples = samples[1:]
		}
		if now.Sub(samples[0].at) >= p.cfg.Retention {
			cut = max(cut, samples[0].id)
		}
		if cut > trimmed {
			if p.exec(p.sql.trim, cut) {
				trimmed = cut
			}
		}
		p.exec(p.sql.expire)
		p.exec(p.sql.orphan, p.cfg.Retention)
	}
}

func (p *Postgres) exec(sql string, args ...any) bool {
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.OpTimeout)
	defer cancel()
	if _, err := p.pool.Exec(ctx, sql, args...); err != nil {
		if p.ctx.Err() == nil {
			p.errors.Add(1)
			p.log.Debug("backplane: postgres upkeep failed", "err", err)
		}
		return false
	}
	return true
}

// PutPresence implements Backplane: one row per set and node, its counts
// as JSON (each name in hex: a name may hold any byte), with an expiry on
// the database's clock.
func (p *Postgres) PutPresence(ctx context.Context, set, node string, counts map[string]int64, ttl time.Duration) error {
	if p.down.Load() {
		return ErrUnavailable
	}
	named := make(map[string]int64, len(counts))
	for name, n := range counts {
		named[hex.EncodeToString([]byte(name))] = n
	}
	js, err := json.Marshal(named)
	if err != nil {
		return err
	}
	return p.presenceExec(ctx, p.sql.putPresence, []byte(set), []byte(node), string(js), ttl)
}

// Presence implements Backplane.
func (p *Postgres) Presence(ctx context.Context, set, name string) (map[string]int64, error) {
	if p.down.Load() {
		return nil, ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.OpTimeout)
	defer cancel()
	rows, err := p.pool.Query(ctx, p.sql.presence, []byte(set), hex.EncodeToString([]byte(name)))
	if err != nil {
		p.errors.Add(1)
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]int64)
	for rows.Next() {
		var node []byte
		var n int64
		if err := rows.Scan(&node, &n); err != nil {
			return nil, err
		}
		out[string(node)] = n
	}
	if err := rows.Err(); err != nil {
		p.errors.Add(1)
		return nil, err
	}
	return out, nil
}

// DropPresence implements Backplane.
func (p *Postgres) DropPresence(ctx context.Context, set, node string) error {
	return p.presenceExec(ctx, p.sql.dropPresence, []byte(set), []byte(node))
}

func (p *Postgres) presenceExec(ctx context.Context, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.OpTimeout)
	defer cancel()
	if _, err := p.pool.Exec(ctx, sql, args...); err != nil {
		p.errors.Add(1)
		return err
	}
	return nil
}

// Ready reports whether the database can be used now: nil when it
// answers a statement within ctx and this node's reading connection is
// up, ErrUnavailable (wrapped) otherwise, ErrClosed after Close. It costs
// one round trip; a readiness probe should not call it more than about
// once a second.
func (p *Postgres) Ready(ctx context.Context) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if p.down.Load() {
		return ErrUnavailable
	}
	if !p.reading.Load() {
		return fmt.Errorf("%w: this node's reading connection is down", ErrUnavailable)
	}
	if _, err := p.pool.Exec(ctx, "SELECT 1"); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// Stats implements StatsReporter.
func (p *Postgres) Stats() Stats {
	return p.snapshot(!p.down.Load(), len(p.queue))
}

// Close implements Backplane: queued publishes fail with ErrClosed, and
// this node's rows go (its channels stop counting at once).
func (p *Postgres) Close() error {
	p.queueMu.Lock()
	first := p.closed.CompareAndSwap(false, true)
	p.queueMu.Unlock()
	if !first {
		return ErrClosed
	}
	p.mu.Lock()
	p.cancel() // under mu: no subscriber waits after
	p.mu.Unlock()
	p.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.OpTimeout)
	_, err := p.pool.Exec(ctx, p.sql.leave, p.node)
	cancel()
	p.pool.Close()
	if err != nil && !p.down.Load() {
		return fmt.Errorf("backplane: postgres: leaving: %w", err)
	}
	return nil
}
