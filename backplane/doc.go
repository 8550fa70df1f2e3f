// Package backplane carries a hub's messages between the nodes (processes)
// that serve it, so that a hub spread over several servers behaves as one:
// a send from any node reaches the connections of every node.
//
// A Backplane is publish/subscribe over named channels, plus a small
// presence store (what each live node reports about itself, forgotten when
// the node stops refreshing it). The hub package decides which channels
// exist and what goes on them; it lays them out as ASP.NET Core SignalR's
// Redis backplane does:
//
//	{prefix}{hub}:all                        every connection
//	{prefix}{hub}:group:{group}              members of a group
//	{prefix}{hub}:connection:{connectionId}  one connection
//	{prefix}{hub}:user:{userId}              connections of a user
//	{prefix}{hub}:internal:groups            group add/remove for a connection on another node
//	{prefix}{hub}:internal:ack:{node}        acknowledgements of those commands
//	{prefix}{hub}:internal:return:{node}     client results on their way back
//
// A node subscribes to a group, user or connection channel only while it
// holds a member, so a message crosses the backplane once per send and
// reaches only the nodes that deliver it; each node then fans it out through
// its own actors. The messages themselves are MessagePack arrays (see
// messages.go); their hub payloads are encoded once, at the origin, for
// every protocol the hub speaks.
//
// Engines: Memory, an in-process broker that lets several hubs of one
// process act as nodes (tests, examples); Redis (publish/subscribe, the
// standard SignalR scale-out); RedisCluster (sharded publish/subscribe on
// a Redis 7 Cluster: each channel lives on the master owning its slot);
// Postgres (a table of messages read by id,
// woken by NOTIFY, in the way of SignalR's SQL Server scale-out: ordered,
// and a node that lost its connection reads what it missed); and NATS
// (core NATS subjects, presence in JetStream key-value buckets). Open
// picks one by URL scheme. Redis and NATS deliver at most once: what is
// published while a node is cut off never reaches it. A single node needs
// none: a hub without a backplane sends nothing anywhere. Every engine
// reports Stats (StatsReporter) and passes one contract test suite
// (contract_test.go) against its real server.
//
// Goroutines, each ended by Close: Redis owns one that reads its
// subscriptions, one that pings them, one that writes publishes
// (pipelined, in order), one that applies subscription changes and, while
// Redis is unreachable, one that probes it. RedisCluster owns one that
// writes publishes, one that applies subscription changes (and pings and
// moves channels after a failover), one reader per master it subscribes
// on and, while no master answers, one that probes. Postgres owns one that writes
// publishes, one that reads the table (on its own connection), one that
// writes subscriptions, one for upkeep (its node row, retention) and,
// while the database is unreachable, one that probes it. NATS owns one
// that hands publishes to the client, one that runs the handlers, one
// that applies subscription changes, one for acknowledgement waits and
// lag probes, plus the nats.go client's own. Memory owns one delivery
// goroutine per node.
package backplane
