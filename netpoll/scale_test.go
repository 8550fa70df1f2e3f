package netpoll

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/gobwas/ws"
)

// TestStalledHalfFrame: a client that sends half a frame and stops holds a
// few bytes, never the (only) worker.
func TestStalledHalfFrame(t *testing.T) {
	p := newPoller(t, Config{Workers: 1})
	rec := newRecorder()
	addr := serve(t, p, rec)

	staller := dial(t, addr)
	frame := clientFrame(ws.OpBinary, true, []byte("0123456789"))
	headerOnly := dial(t, addr)
	long := clientFrame(ws.OpBinary, true, make([]byte, 100000))
	staller.send(frame[:len(frame)/2])
	headerOnly.send(long[:1]) // one byte of a header
	bigStaller := dial(t, addr)
	bigStaller.send(long[:50000]) // half of a 100 KB frame

	others := make([]*client, 4)
	for i := range others {
		others[i] = dial(t, addr)
	}
	for round := range 50 {
		for i, cl := range others {
			msg := fmt.Appendf(nil, "client %d round %d", i, round)
			start := time.Now()
			cl.sendMsg(ws.OpText, msg)
			cl.expect(ws.OpText, msg)
			if d := time.Since(start); d > time.Second {
				t.Fatalf("echo took %v while others stall", d)
			}
		}
	}

	staller.send(frame[len(frame)/2:])
	staller.expect(ws.OpBinary, []byte("0123456789"))
	headerOnly.send(long[1:])
	headerOnly.expect(ws.OpBinary, make([]byte, 100000))
	bigStaller.send(long[50000:])
	bigStaller.expect(ws.OpBinary, make([]byte, 100000))
}

const (
	helperEnv  = "NETPOLL_TEST_HELPER_ADDR"
	helperN    = "NETPOLL_TEST_HELPER_CONNS"
	idleConns  = 10000
	echoProbes = 20
)

// TestIdleConnsOwnNoGoroutine registers 10,000 WebSocket connections,
// dialed by a child process (each process may hold 20,000 files), and
// checks that they add no goroutine and still echo.
func TestIdleConnsOwnNoGoroutine(t *testing.T) {
	if testing.Short() {
		t.Skip("dials 10,000 connections")
	}
	if raceEnabled {
		t.Skip("too slow under the race detector")
	}
	p := newPoller(t, Config{})
	rec := newRecorder()
	rec.ch = make(chan closeEvent, idleConns)

	addr := serve(t, p, rec)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()

	start := time.Now()
	child := testutil.StartChild(t, "TestHelperProcess", []string{helperEnv + "=" + addr, helperN + "=" + strconv.Itoa(idleConns)}, 2*time.Minute)
	child.Expect("ready")
	testutil.EventuallyWithin(t, 20*time.Second, "10,000 registrations", func() bool { return p.Len() == idleConns })
	t.Logf("%d connections dialed and registered in %v", idleConns, time.Since(start))

	after := runtime.NumGoroutine()
	runtime.GC()
	var held runtime.MemStats
	runtime.ReadMemStats(&held)
	t.Logf("goroutines: %d before, %d with %d connections registered", goroutines, after, idleConns)
	t.Logf("heap per idle connection: %d bytes (Go heap, all of it: net.TCPConn and netFD included; the Conn struct is %d)",
		(int64(held.HeapAlloc)-int64(before.HeapAlloc))/idleConns, unsafe.Sizeof(Conn{}))
	if after > goroutines+2 {
		t.Fatalf("%d goroutines with %d connections, %d before", after, idleConns, goroutines)
	}

	child.Send("echo %d", echoProbes)
	child.Expect("ok")
	if n := rec.count(); n != echoProbes {
		t.Fatalf("%d messages, want %d", n, echoProbes)
	}

	child.Hangup() // the helper hangs up all its connections
	testutil.EventuallyWithin(t, 20*time.Second, "all connections to close", func() bool { return p.Len() == 0 })
	for range idleConns {
		if ev := rec.waitClose(t, 10*time.Second); ev.err != io.EOF {
			t.Fatalf("OnClose(%v), want io.EOF", ev.err)
		}
	}
}

// TestHelperProcess is the client side of TestIdleConnsOwnNoGoroutine,
// run in a child process. It dials the connections, prints "ready", then
// obeys "echo N" lines on stdin (N connections spread over all send a
// message and read the echo; it prints "ok") until stdin closes.
func TestHelperProcess(t *testing.T) {
	addr := os.Getenv(helperEnv)
	if addr == "" {
		return
	}
	n, _ := strconv.Atoi(os.Getenv(helperN))
	conns := make([]net.Conn, n)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		dialErr error
	)
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				conn, _, _, err := ws.Dial(ctx, "ws://"+addr+"/")
				cancel()
				if err != nil {
					mu.Lock()
					dialErr = err
					mu.Unlock()
					continue
				}
				conns[i] = conn
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if dialErr != nil {
		fmt.Printf("fail: dial: %v\n", dialErr)
		os.Exit(1)
	}
	fmt.Println("ready")

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var k int
		if _, err := fmt.Sscanf(in.Text(), "echo %d", &k); err != nil {
			fmt.Printf("fail: command %q\n", in.Text())
			os.Exit(1)
		}
		for j := range k {
			conn := conns[j*n/k]
			msg := fmt.Appendf(nil, "probe %d", j)
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := conn.Write(clientFrame(ws.OpText, true, msg)); err != nil {
				fmt.Printf("fail: write: %v\n", err)
				os.Exit(1)
			}
			h, err := ws.ReadHeader(conn)
			got := make([]byte, h.Length)
			if err == nil {
				_, err = io.ReadFull(conn, got)
			}
			if err != nil || string(got) != string(msg) {
				fmt.Printf("fail: echo %q: %q %v\n", msg, got, err)
				os.Exit(1)
			}
		}
		fmt.Println("ok")
	}
	os.Exit(0)
}
