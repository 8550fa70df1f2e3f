// Package bench is actorhub's whole-system load generator: an epoll-driven
// SignalR client side (no goroutine per client connection), the scenarios
// that drive it, and the processes they measure. It talks to servers only
// over sockets; cmd/bench is its command line.
//
// # Client side
//
// A Pool holds connections to one hub. Each is set up by one of
// Config.Dialers goroutines on a raw non-blocking socket bound to one of
// the source addresses (127.0.0.2 and up, so the ephemeral port range is
// per address): POST negotiate, then on the same keep-alive connection
// the WebSocket upgrade, the SignalR handshake (JSON or MessagePack) and,
// if asked, a JoinGroup. The socket is then added to the epoll set of one
// of Config.Loops loop goroutines; from there no goroutine belongs to it.
// A loop reads whatever is ready into its own buffer, parses frames
// incrementally with netpoll.FrameReader, actorhub's own parser (a
// connection holds bytes only while a frame is partial)
// and counts hub messages. Writes (invocations, pings, pongs) come from
// any goroutine, serialized per connection. The pool owns its goroutines:
// Close stops them and closes every socket.
//
// Timing travels in the messages, so every target carries it unchanged:
// a broadcast's argument is "<unix nanoseconds>:xxx…" padded to the
// payload size, and a timed invocation's id is its send time in Unix
// nanoseconds, read back from the Completion.
//
// # Scenarios and processes
//
// Run starts a Target as its own process (a process group), connects
// Settings.Conns receivers through Loaders (in this process, or in agent
// processes speaking JSON lines when the connections exceed one process's
// file limit), runs the scenario and measures the server from outside:
// CPU and RSS from /proc/<pid>/stat, goroutines and heap from its
// /metrics, a GC through /debug/pprof/heap?gc=1 where served, kernel
// socket memory from /proc/slabinfo and /proc/net/sockstat.
//
//   - idle: hold N connections, connection i in group i/S; memory,
//     goroutines and kernel memory per connection, connects per second.
//   - connect: connects per second for N full set-ups.
//   - broadcast: one sender invokes SendToAll; at most Window messages
//     are out and not yet delivered to all; deliveries/s, fan-out latency.
//   - group: N/S groups of S; SendToGroup round robin over the groups.
//   - echo: N callers, each with one Echo in flight; calls/s and RTT.
//   - flood: N connections send non-blocking invocations (SendToGroup to
//     a group nobody is in, 64 per frame) as fast as their sockets take
//     them for Duration, while one honest connection calls Echo, one call
//     in flight (flood.go). Server RSS before (idle, after a GC), every
//     250 ms during the flood and the drain after it, and after (once the
//     server's received count stood still for 2 s, after a GC); the
//     honest client's calls/s alone and during the flood. Stops early
//     when MemAvailable falls under Settings.MemFloor.
//   - rest: broadcast, but sent through the server's REST API (Azure
//     SignalR Service's POST /api/hubs/conformance/:send, with a token of
//     an access key Run gives the server in ACTORHUB_ACCESS_KEY) instead of
//     a hub method: at most Window calls in flight; the latency runs from
//     the REST call to the client's receipt. actorhub only.
//   - fleet: K nodes on one Redis, M agents (fleet.go). Connections grow
//     in steps (Settings.Step, spread over every agent, each agent taking
//     its share from few nodes) until Conns are held or growth stops: a
//     connect failing in three steps, MemAvailable near Settings.MemFloor
//     (checked before each step, projected on the memory per connection
//     so far, and every 250 ms while connecting), Settings.Budget, a node
//     that dies, dropped connections. Then Settings.Broadcasts SendToAll
//     from node 1, each timed until every connection has it (and one
//     more at each step that reaches a count of Settings.BroadcastAt,
//     for a cost curve from one run). Each broadcast is split by the
//     nodes' own timestamps (/metrics): when the message reached each
//     node, when each wrote its last connection. Each step
//     and broadcast goes to Settings.Emit (phase "step", "broadcast");
//     Run returns the summary (phase "summary", stopped_by; its latencies
//     are the worst broadcast's, its memory per connection is growth
//     since before the first step, after a GC of every node). Client
//     connections do not ping in the fleet (the actorhub target pings
//     hourly and times clients out after two hours), so idle connections
//     cost no CPU.
//
// With Settings.Nodes K >= 2 (any scenario but echo), Run starts a
// backplane server (Settings.Backplane: redis-server, a Redis Cluster of
// 3 redis-server masters, PostgreSQL or nats-server) on free loopback
// ports and K nodes with -backplane and -node-id nK, spreads the
// receivers evenly over the nodes and connects the sender to node 1; every process is in its own process group,
// ended by Run or by KillChildren.
//
// A run is invalid (Valid false, InvalidReason set) when a message was
// lost or duplicated, a connection dropped, a send failed, or the server
// died. Plan refuses settings that cannot work, naming the fix.
//
// # Result fields (one JSON object per line; names are stable)
//
//	scenario, target, protocol, payload     what ran: payload is the argument size in bytes
//	conns, groups, group_size, window       receivers (echo: callers), the groups, messages in flight
//	agents                                  load processes (0: the coordinator itself)
//	nodes                                   server processes on one backplane (absent: one node, none)
//	backplane                               what they scale out on: redis, redis-cluster, postgres or nats
//	node_rss_b                              RSS of each node at the end (two nodes or more)
//	node_gomaxprocs                         the nodes' GOMAXPROCS (absent: Go's default, every core)
//	node_cpu_s, node_writes                 each node's CPU seconds and write system calls (write, writev:
//	                                        syscw of /proc/PID/io) over the measured phase (16 nodes at most)
//	backplane_cpu_s                         the backplane server's CPU seconds over the measured phase
//	                                        (PostgreSQL: its backends too); redis_cpu_s in older results
//	phase                                   fleet: step, broadcast or summary
//	elapsed_s, stopped_by                   fleet: seconds since growth began; what ended the growth
//	load_rss_b, kernel_b, mem_available_b   fleet: agents' RSS, kernel socket memory grown since the start,
//	                                        MemAvailable
//	node_rss_min_b, node_rss_max_b          fleet: the smallest and largest node
//	server_conns, server_closes             fleet: connections the nodes hold past the handshake, and the
//	                                        connections they closed since the start, by reason (their /metrics)
//	load_per_conn_b, machine_per_conn_b     fleet: agents' RSS growth per connection; MemAvailable's fall
//	                                        per connection (everything, the machine's view)
//	node_recv_ms, node_done_ms              fleet broadcast, by node, from the send: the message arrived through
//	                                        the backplane (node 1: 0), the node's last write to a connection
//	node_recv_p50_ms, node_recv_max_ms      fleet broadcast: publish -> a node received (median), every node
//	node_fanout_p50_ms, node_fanout_max_ms  fleet broadcast: a node's arrival -> its last write (median, slowest)
//	last_write_ms, client_tail_ms           fleet broadcast: send -> the last write of all nodes; that write ->
//	                                        the last client's receipt (lat_max_ms - last_write_ms)
//	duration_s                              the measured phase in seconds
//	sent, delivered                         messages sent (echo: calls), deliveries received
//	deliveries_per_sec                      delivered / duration_s
//	sends_per_sec                           broadcast, group, rest: sent / the sending time
//	rest_call_ms                            rest: the mean duration of a REST call (to its 202)
//	lat_p50_ms, lat_p99_ms, lat_max_ms      send-to-delivery latency
//	lat_hist, rtt_hist                      {"lower_us":[…],"counts":[…]}: non-empty buckets, each from its
//	                                        lower edge to the next eighth of a power of two (BucketLowerUS)
//	connects_per_sec                        full set-ups per second (idle, connect)
//	echo_per_sec, rtt_p50_ms, rtt_p99_ms, rtt_max_ms
//	rss_per_conn_b                          idle, fleet: server RSS growth per connection, after a GC (holds the
//	                                        heap's growth headroom: Go returns freed pages to the OS slowly)
//	heap_per_conn_b, heap_inuse_per_conn_b  idle: Go heap growth per connection after GC: live bytes
//	                                        (go_memstats_heap_alloc_bytes) and spans in use
//	kernel_per_conn_b                       idle: socket slab + TCP buffer growth per connection, both ends (loopback)
//	goroutines_per_conn                     idle: server goroutine growth per connection
//	server_rss_b, server_goroutines         at the end of the run
//	rss_idle_b, rss_peak_b, rss_after_b     flood: server RSS before (N idle connections, after a GC), the
//	rss_peak_ratio                          highest sample during the flood and drain, after (after a GC);
//	rss_series_b, rss_step_s                peak / idle; every sample, rss_step_s apart from the flood's start
//	flood_sent, server_received, drain_s    flood: invocations written, hub messages the server took in,
//	                                        seconds it kept taking them in after the flood
//	echo_alone_per_sec                      flood: the honest client's calls/s before the flood (echo_per_sec
//	                                        and rtt_*: during it)
//	flood_error                             flood: why a flooder stopped early (the server cut it)
//	lost, dropped, failures                 missing deliveries, lost connections, failed sends
//	server_cpu_s, client_cpu_s              CPU seconds over the measured phase, server and load side apart
//	valid, invalid_reason, unsupported      validity; unsupported: the target does not speak the protocol
//	date, machine, command                  when, where and how
//
// # Example
//
//	p, err := bench.NewPool(bench.Config{URL: "http://127.0.0.1:5000/hubs/conformance"})
//	if err != nil { … }
//	defer p.Close()
//	err = p.Connect(ctx, 1000, func(i int) string { return bench.GroupName(i / 100) })
//	err = p.Conns()[0].InvokeTimed("SendToGroup", "g3", "m", "123:x")
//	st := p.Stats(true) // st.Delivered, st.Latency.Quantile(0.99), …
package bench
