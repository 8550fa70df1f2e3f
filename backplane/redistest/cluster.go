package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of redis-server processes owned by a test:
// masters, each with its replicas, on free loopback ports, their
// configuration in the test's temporary directory.
type Cluster struct {
	t     testing.TB
	Nodes []*ClusterNode
}

// ClusterNode is one redis-server of a Cluster.
type ClusterNode struct {
	Addr    string // host:port
	busPort string // the cluster bus'
	timeout time.Duration
	dir     string
	cmd     *exec.Cmd
	done    chan struct{}
}

// ClusterConfig shapes a cluster. The zero value is 3 masters with one
// replica each and a node timeout of 1,000 ms.
type ClusterConfig struct {
	Masters  int           // 0 means 3
	Replicas int           // per master; -1 means none, 0 means 1
	Timeout  time.Duration // cluster-node-timeout: how long a master may be silent before its replica takes over; 0 means 1 s
}

// StartCluster runs a cluster (3 masters + 3 replicas by default), waits
// until every node reports cluster_state:ok and stops it when the test
// ends. It fails the test when redis-server or redis-cli are not
// installed (./test.sh installs them).
func StartCluster(t testing.TB, cfg ClusterConfig) *Cluster {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found (./test.sh installs it: apt-get install -y redis-server): %v", bin, err)
		}
	}
	if cfg.Masters == 0 {
		cfg.Masters = 3
	}
	switch cfg.Replicas {
	case 0:
		cfg.Replicas = 1
	case -1:
		cfg.Replicas = 0
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	c := &Cluster{t: t}
	t.Cleanup(c.stopAll)
	n := cfg.Masters * (1 + cfg.Replicas)
	for i := range n {
		node := &ClusterNode{dir: t.TempDir(), timeout: cfg.Timeout}
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			node.Addr = freeAddr(t)
			_, node.busPort, _ = net.SplitHostPort(freeAddr(t))
			if err = node.run(); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("cluster node %d would not start: %v", i, err)
		}
		c.Nodes = append(c.Nodes, node)
	}
	args := []string{"--cluster", "create"}
	for _, node := range c.Nodes {
		args = append(args, node.Addr)
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(cfg.Replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitOK(30 * time.Second)
	return c
}

// URL is the cluster's redis-cluster:// URL, naming every node.
func (c *Cluster) URL() string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return "redis-cluster://" + strings.Join(addrs, ",")
}

// WaitOK waits until every running node reports cluster_state:ok and
// every replica is in sync with its master (a replica that never synced
// would not take over), failing the test after within.
func (c *Cluster) WaitOK(within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok := true
		for _, n := range c.Nodes {
			if n.cmd == nil {
				continue
			}
			if !strings.Contains(n.CLI("cluster", "info"), "cluster_state:ok") {
				ok = false
				break
			}
			if repl := n.CLI("info", "replication"); strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("cluster not ok after %v", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Master is the node serving slot as master, as the first running node
// reports it.
func (c *Cluster) Master(slot int) *ClusterNode {
	c.t.Helper()
	for _, from := range c.Nodes {
		if from.cmd == nil {
			continue
		}
		if addr := masterIn(from.CLI("cluster", "nodes"), slot); addr != "" {
			for _, n := range c.Nodes {
				if n.Addr == addr {
					return n
				}
			}
		}
		break
	}
	c.t.Fatalf("no master serves slot %d", slot)
	return nil
}

// WaitMaster waits until every running node names want as slot's
// master, failing the test after within.
func (c *Cluster) WaitMaster(slot int, want *ClusterNode, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		agree := true
		for _, n := range c.Nodes {
			if n.cmd != nil && masterIn(n.CLI("cluster", "nodes"), slot) != want.Addr {
				agree = false
				break
			}
		}
		if agree {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the nodes do not agree that %s serves slot %d after %v", want.Addr, slot, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// masterIn is the address of the master serving slot in a CLUSTER NODES
// reply, or "" when none (that is not failing) does.
func masterIn(nodes string, slot int) string {
	for line := range strings.SplitSeq(nodes, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		for _, r := range f[8:] {
			lo, hi, isRange := strings.Cut(r, "-")
			if !isRange {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil && a <= slot && slot <= b {
				return addr
			}
		}
	}
	return ""
}

// Stop stops every node; their configuration stays for Restart.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		n.Kill()
	}
}

// Restart starts every stopped node again on its port, with the
// cluster's configuration (empty of data), and waits for the cluster.
func (c *Cluster) Restart() {
	c.t.Helper()
	for _, n := range c.Nodes {
		if n.cmd != nil {
			continue
		}
		var err error
		for range 50 { // the port may linger a moment
			if err = n.run(); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			c.t.Fatalf("redis-server would not restart on %s: %v", n.Addr, err)
		}
	}
	c.WaitOK(60 * time.Second)
}

func (c *Cluster) stopAll() { c.Stop() }

// Kill kills the node's process (SIGKILL), as a crash would.
func (n *ClusterNode) Kill() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.done
	n.cmd = nil
}

// CLI runs redis-cli against the node and returns its output ("" when
// the node does not answer).
func (n *ClusterNode) CLI(args ...string) string {
	host, port, _ := net.SplitHostPort(n.Addr)
	out, err := exec.Command("redis-cli", append([]string{"-h", host, "-p", port}, args...)...).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// run starts the node; its cluster configuration (nodes.conf) stays in
// its directory across restarts.
func (n *ClusterNode) run() error {
	host, port, _ := net.SplitHostPort(n.Addr)
	args := []string{"--port", port, "--bind", host, "--save", "", "--appendonly", "no",
		"--protected-mode", "no", "--loglevel", "warning", "--dir", n.dir,
		"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port", n.busPort,
		"--cluster-node-timeout", strconv.Itoa(int(n.timeout / time.Millisecond))}
	cmd := exec.Command("redis-server", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	var log strings.Builder
	// Owner: the ClusterNode. It reads the process's output until the
	// process exits, reaps it and closes done; Kill waits for done.
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if log.Len() < 4096 {
				log.WriteString(sc.Text() + "\n")
			}
		}
		_ = cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("exited: %s", log.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", n.Addr, 100*time.Millisecond); err == nil {
			c.Close()
			n.cmd, n.done = cmd, done
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-done
	return fmt.Errorf("not listening on %s after 5 s", n.Addr)
}
