package backplane_test

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/actorhub/actorhub/backplane"
	"github.com/actorhub/actorhub/backplane/redistest"
)

// blackholeProxy forwards TCP to target; freeze makes every connection open
// so far silent (no RST, no data), as a network partition or a failover to
// another host does; connections made later are forwarded again. Its
// goroutines end with the test: the cleanup closes the listener and every
// connection, and waits for them.
type blackholeProxy struct {
	ln     net.Listener
	target string
	done   chan struct{} // closed by the cleanup: frozen pipes let go
	wg     sync.WaitGroup
	mu     sync.Mutex
	frozen []chan struct{} // guarded by mu
	conns  []net.Conn      // guarded by mu
}

func newBlackholeProxy(t *testing.T, target string) *blackholeProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackholeProxy{ln: ln, target: target, done: make(chan struct{})}
	t.Cleanup(func() {
		ln.Close()
		close(p.done)
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			stop := make(chan struct{})
			p.mu.Lock()
			select {
			case <-p.done: // the cleanup has closed the others
				p.mu.Unlock()
				c.Close()
				s.Close()
				return
			default:
			}
			p.frozen = append(p.frozen, stop)
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					select {
					case <-stop:
						<-p.done // hold the socket open, silently, until the test ends
						return
					default:
					}
					if n > 0 {
						dst.Write(buf[:n])
					}
					if err != nil {
						if err != io.EOF {
							dst.Close()
						}
						return
					}
				}
			}
			p.wg.Go(func() { pipe(s, c) })
			p.wg.Go(func() { pipe(c, s) })
		}
	})
	return p
}

func (p *blackholeProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.frozen {
		close(s)
	}
	p.frozen = nil
}

// A subscription connection that goes silent (a partition: no RST) is
// found out by its pings and replaced; the node hears the others again.
func TestRedisHalfOpenConnection(t *testing.T) {
	srv := redistest.Start(t)
	proxy := newBlackholeProxy(t, srv.Addr)
	a, err := backplane.NewRedis(backplane.RedisConfig{URL: "redis://" + proxy.ln.Addr().String(), OpTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := backplane.NewRedis(backplane.RedisConfig{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	got := make(chan string, 100)
	<-a.Subscribe("ch", func(_ string, m []byte) { got <- string(m) })
	b.Publish("ch", []byte("before"), nil)
	select {
	case <-got:
	case <-time.After(2 * time.Second):
		t.Fatal("nothing before the partition")
	}

	proxy.freeze()
	// a's publishes fail, the probe finds Redis again on a new connection.
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := make(chan error, 1)
		if a.Publish("other", []byte("x"), func(_ int, err error) { res <- err }) == nil && <-res == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a's publishes never recovered")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Log("a's publishes work again")
	// Redis is reachable again for a; its subscription should be too.
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b.Publish("ch", []byte("after"), nil)
		select {
		case m := <-got:
			t.Logf("got %q: subscription recovered", m)
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatal("a's publishes work again, but its subscription still gets nothing 5 s later")
}
