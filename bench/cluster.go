package bench

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/actorhub/actorhub/backplane/natstest"
	"github.com/actorhub/actorhub/backplane/pgtest"
)

// Backplanes are the servers a cluster of two nodes or more can scale
// out on.
var Backplanes = []string{"redis", "redis-cluster", "postgres", "nats"}

// Cluster is K nodes of a target scaled out on one backplane server,
// every process in a process group of its own. A cluster of one node has
// no backplane: it is the single-node baseline.
type Cluster struct {
	Backplane *Server   // nil for one node
	Kind      string    // the backplane's kind (Backplanes); "" for one node
	Nodes     []*Server // Nodes[0] is node 1
}

// ClusterConfig says how to start a Cluster.
type ClusterConfig struct {
	// Nodes is K; default 1.
	Nodes int
	// Addrs are the listen addresses of the nodes, used round robin;
	// default "127.0.0.1:0" (a free port each).
	Addrs []string
	// Env is added to every node's environment (e.g. GOMAXPROCS=1).
	Env []string
	// Backplane is the kind of server two nodes or more scale out on
	// (Backplanes); default redis.
	Backplane string
}

// StartCluster starts the backplane's server (for two nodes or more) and
// the nodes, each with -backplane URL and -node-id nK added to the
// target's arguments. On an error every process started is stopped.
func StartCluster(t Target, cfg ClusterConfig) (*Cluster, error) {
	k := max(cfg.Nodes, 1)
	addrs := cfg.Addrs
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1:0"}
	}
	c := &Cluster{}
	if k == 1 {
		s, err := StartEnv(t, addrs[0], cfg.Env)
		if err != nil {
			return nil, err
		}
		c.Nodes = []*Server{s}
		return c, nil
	}
	kind := cfg.Backplane
	if kind == "" {
		kind = "redis"
	}
	bp, url, err := StartBackplane(kind)
	if err != nil {
		return nil, err
	}
	c.Backplane, c.Kind = bp, kind
	nodes := make([]*Server, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8) // start-up is CPU-bound: a few at a time
	for i := range k {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			nt := t
			nt.Args = append(append([]string{}, t.Args...), "-backplane", url(i+1), "-node-id", "n"+strconv.Itoa(i+1))
			nodes[i], errs[i] = StartEnv(nt, addrs[i%len(addrs)], cfg.Env)
		})
	}
	wg.Wait()
	for _, n := range nodes {
		if n != nil {
			c.Nodes = append(c.Nodes, n)
		}
	}
	if err := errors.Join(errs...); err != nil {
		c.Stop()
		return nil, err
	}
	c.Nodes = nodes
	return c, nil
}

// URLs are the hub URLs of the nodes, node 1 first.
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.URL()
	}
	return out
}

// Stop stops every node, then the backplane.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Go(n.Stop)
	}
	wg.Wait()
	if c.Backplane != nil {
		c.Backplane.Stop()
	}
}

// Sample adds up the nodes' CPU and RSS; perNode has each node's.
func (c *Cluster) Sample() (total ProcSample, perNode []ProcSample, err error) {
	for _, n := range c.Nodes {
		ps, e := n.Sample()
		if e != nil && err == nil {
			err = e
		}
		total.CPUSeconds += ps.CPUSeconds
		total.RSSBytes += ps.RSSBytes
		perNode = append(perNode, ps)
	}
	return total, perNode, err
}

// Died is nil while every node (and the backplane) runs; else it says
// which ended first, how, and the last line it wrote.
func (c *Cluster) Died() error {
	for i, n := range c.Nodes {
		if done, err := n.Exited(); done {
			return fmt.Errorf("node %d died: %v: %s", i+1, err, lastLine(n.StderrTail()))
		}
	}
	if c.Backplane != nil {
		if done, err := c.Backplane.Exited(); done {
			return fmt.Errorf("the %s server died: %v: %s", c.Kind, err, lastLine(c.Backplane.StderrTail()))
		}
	}
	return nil
}

// StartBackplane starts a server of kind (Backplanes) on a free loopback
// port; url gives the -backplane URL of node k (PostgreSQL's names the
// node as application_name).
func StartBackplane(kind string) (s *Server, url func(node int) string, err error) {
	switch kind {
	case "redis":
		s, err = StartRedis()
		return s, func(int) string { return "redis://" + s.Addr + "/0" }, err
	case "redis-cluster":
		var addrs []string
		s, addrs, err = StartRedisCluster(3)
		return s, func(int) string { return "redis-cluster://" + strings.Join(addrs, ",") }, err
	case "postgres":
		s, err = StartPostgres()
		return s, func(k int) string { return pgtest.URL(port(s.Addr)) + "&application_name=n" + strconv.Itoa(k) }, err
	case "nats":
		s, err = StartNATS()
		return s, func(int) string { return natstest.URL(port(s.Addr)) }, err
	}
	return nil, nil, fmt.Errorf("bench: unknown backplane %q (known: %s)", kind, strings.Join(Backplanes, ", "))
}

func port(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// freeAddrs tries start on up to five free loopback ports (a port may be
// taken between Listen and the server).
func freeAddrs(start func(addr string, port int) (*Server, error)) (*Server, error) {
	var last error
	for range 5 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addr := l.Addr().String()
		l.Close()
		s, err := start(addr, port(addr))
		if err == nil {
			return s, nil
		}
		last = err
	}
	return nil, last
}

// StartPostgres makes a PostgreSQL cluster in a temporary directory
// (initdb, Debian's packages) and runs its server on a free loopback port
// (as the postgres user when this process is root), without fsync. Its
// CPU is its backends' too; Stop removes the directory.
func StartPostgres() (*Server, error) {
	dir, err := pgtest.Dir()
	if err != nil {
		return nil, err
	}
	if err := pgtest.InitDB(dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s, err := freeAddrs(func(addr string, port int) (*Server, error) {
		cmd, err := pgtest.Command(dir, port)
		if err != nil {
			return nil, err
		}
		return startProcess(Target{Name: "postgres", Bin: cmd.Path}, cmd, func(line string) (string, bool) {
			return addr, strings.Contains(line, pgtest.Ready)
		})
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.tree = true
	s.cleanup = func() { os.RemoveAll(dir) }
	return s, nil
}

// StartNATS runs nats-server with JetStream on a free loopback port, its
// store in a temporary directory that Stop removes.
func StartNATS() (*Server, error) {
	dir, err := os.MkdirTemp("", "actorhub-bench-nats-")
	if err != nil {
		return nil, err
	}
	s, err := freeAddrs(func(addr string, port int) (*Server, error) {
		cmd, err := natstest.Command(dir, port)
		if err != nil {
			return nil, err
		}
		return startProcess(Target{Name: "nats-server", Bin: cmd.Path}, cmd, func(line string) (string, bool) {
			return addr, strings.Contains(line, natstest.Ready)
		})
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.cleanup = func() { os.RemoveAll(dir) }
	return s, nil
}

// StartRedis runs redis-server on a free loopback port, without
// persistence, in its own process group.
func StartRedis() (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("bench: several nodes need redis-server: %w", err)
	}
	var last error
	for range 5 { // the free port may be taken between Listen and redis
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addr := l.Addr().String()
		l.Close()
		_, port, _ := net.SplitHostPort(addr)
		cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--protected-mode", "no", "--loglevel", "notice", "--maxclients", "10000")
		s, err := startProcess(Target{Name: "redis-server", Bin: bin}, cmd, func(line string) (string, bool) {
			return addr, strings.Contains(line, "Ready to accept connections")
		})
		if err == nil {
			return s, nil
		}
		last = err
	}
	return nil, last
}

// StartRedisCluster runs a Redis Cluster of masters redis-server
// processes (no replicas, no persistence) on free loopback ports, their
// cluster configuration in a temporary directory that Stop removes, and
// waits until every master reports cluster_state:ok. The masters are
// children of one shell, in one process group: the Server is the shell
// (Addr the first master's), its Sample counts every master's CPU and
// Stop ends them all. addrs are the masters' host:port.
func StartRedisCluster(masters int) (s *Server, addrs []string, err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, nil, fmt.Errorf("bench: a redis-cluster backplane needs redis-server: %w", err)
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		return nil, nil, fmt.Errorf("bench: a redis-cluster backplane needs redis-cli: %w", err)
	}
	dir, err := os.MkdirTemp("", "actorhub-bench-rediscluster-")
	if err != nil {
		return nil, nil, err
	}
	var last error
	for range 5 { // a free port may be taken between Listen and redis
		s, addrs, last = startRedisCluster(bin, dir, masters)
		if last == nil {
			break
		}
	}
	if last != nil {
		os.RemoveAll(dir)
		return nil, nil, last
	}
	s.tree = true
	s.cleanup = func() { os.RemoveAll(dir) }
	if err := createRedisCluster(addrs); err != nil {
		s.Stop()
		return nil, nil, err
	}
	return s, addrs, nil
}

func startRedisCluster(bin, dir string, masters int) (*Server, []string, error) {
	ports, err := freePorts(2 * masters) // each master's, then each one's cluster bus
	if err != nil {
		return nil, nil, err
	}
	var script strings.Builder
	addrs := make([]string, masters)
	for i := range masters {
		addrs[i] = "127.0.0.1:" + strconv.Itoa(ports[i])
		nodeDir := fmt.Sprintf("%s/n%d", dir, i+1)
		if err := os.MkdirAll(nodeDir, 0o755); err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(&script, "%q --port %d --cluster-port %d --bind 127.0.0.1 --dir %q --save '' --appendonly no "+
			"--protected-mode no --loglevel notice --maxclients 10000 --cluster-enabled yes "+
			"--cluster-config-file nodes.conf --cluster-node-timeout 2000 &\n",
			bin, ports[i], ports[masters+i], nodeDir)
	}
	script.WriteString("wait\n")
	cmd := exec.Command("sh", "-c", script.String())
	ready := 0
	s, err := startProcess(Target{Name: "redis-cluster", Bin: bin}, cmd, func(line string) (string, bool) {
		if strings.Contains(line, "Ready to accept connections") {
			ready++ // on the reader goroutine alone
		}
		return addrs[0], ready == masters
	})
	if err != nil {
		return nil, nil, err
	}
	return s, addrs, nil
}

// createRedisCluster gives the masters the slots (redis-cli --cluster
// create) and waits up to 30 s for each to report cluster_state:ok.
func createRedisCluster(addrs []string) error {
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("bench: redis-cli --cluster create: %v: %s", err, lastLine(string(out)))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, a := range addrs {
			out, _ := exec.Command("redis-cli", "-p", strconv.Itoa(port(a)), "cluster", "info").Output()
			if !strings.Contains(string(out), "cluster_state:ok") {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: redis cluster on %s not ok within 30 s", strings.Join(addrs, ","))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freePorts are n distinct free loopback ports (free when returned).
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	out := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, port(l.Addr().String()))
	}
	return out, nil
}
