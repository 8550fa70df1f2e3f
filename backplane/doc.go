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
// Two implementations: Memory, an in-process broker that lets several hubs
// of one process act as nodes (tests, examples), and Redis, for real
// deployments. A single node needs neither: a hub without a backplane sends
// nothing anywhere.
//
// Goroutines: Redis owns one goroutine that reads its subscriptions, one
// that writes publishes (pipelined, in order), one that applies
// subscription changes and, while Redis is unreachable, one that probes it.
// Memory owns one delivery goroutine per node. Close stops them all.
package backplane
