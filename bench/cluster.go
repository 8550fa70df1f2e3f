package bench

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
)

// Cluster is K nodes of a target scaled out on one Redis, every process
// in a process group of its own. A cluster of one node has no Redis: it is
// the single-node baseline.
type Cluster struct {
	Redis *Server   // nil for one node
	Nodes []*Server // Nodes[0] is node 1
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
}

// StartCluster starts Redis (for two nodes or more) and the nodes, each
// with -redis and -node-id nK added to the target's arguments. On an
// error every process started is stopped.
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
	r, err := StartRedis()
	if err != nil {
		return nil, err
	}
	c.Redis = r
	nodes := make([]*Server, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8) // start-up is CPU-bound: a few at a time
	for i := range k {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			nt := t
			nt.Args = append(append([]string{}, t.Args...), "-redis", "redis://"+r.Addr+"/0", "-node-id", "n"+strconv.Itoa(i+1))
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

// Stop stops every node, then Redis.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Go(n.Stop)
	}
	wg.Wait()
	if c.Redis != nil {
		c.Redis.Stop()
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

// Died is nil while every node (and Redis) runs; else it says which
// ended first, how, and the last line it wrote.
func (c *Cluster) Died() error {
	for i, n := range c.Nodes {
		if done, err := n.Exited(); done {
			return fmt.Errorf("node %d died: %v: %s", i+1, err, lastLine(n.StderrTail()))
		}
	}
	if c.Redis != nil {
		if done, err := c.Redis.Exited(); done {
			return fmt.Errorf("redis-server died: %v: %s", err, lastLine(c.Redis.StderrTail()))
		}
	}
	return nil
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
