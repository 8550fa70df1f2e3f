package transports_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/actorhub/actorhub/internal/testutil"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
)

const (
	burstConns = 2000
	burstSize  = 50
)

// TestShutdownDeliversBurst: 50 broadcasts, then at once Shutdown, with
// 2,000 WebSocket clients (in a child process: a process may hold 20,000
// files): every client gets all 50, in order, then Close{allowReconnect:
// true}. Shutdown lets the groups fan out what they were given, then
// closes each connection behind what its mailbox holds.
func TestShutdownDeliversBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2,000 connections")
	}
	if raceEnabled {
		t.Skip("too slow under the race detector")
	}
	hubURL, h := startServer(t, hub.Config{KeepAliveInterval: 5 * time.Minute}, transports.Config{})
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBurstClients$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperURLEnv+"="+hubURL, helperConnsEnv+"="+strconv.Itoa(burstConns))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	watchdog := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		watchdog.Stop()
	})
	lines := bufio.NewScanner(stdout)
	expectLine := func(prefix string) string {
		t.Helper()
		for lines.Scan() {
			if line := lines.Text(); strings.HasPrefix(line, prefix) {
				return line
			} else if strings.HasPrefix(line, "fail") {
				t.Fatalf("helper: %s", line)
			}
		}
		t.Fatalf("the helper ended before %q: %v", prefix, lines.Err())
		return ""
	}
	expectLine("ready")
	testutil.EventuallyWithin(t, 30*time.Second, "2,000 connections", func() bool { return h.Stats().Connections == burstConns })

	for i := range burstSize {
		if err := h.Clients().All().Send("burst", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := shutdownHub(t, h); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	line := expectLine("result ")
	var full, closed, partial int
	if _, err := fmt.Sscanf(line, "result full=%d closed=%d partial=%d", &full, &closed, &partial); err != nil {
		t.Fatalf("helper: %q: %v", line, err)
	}
	if full != burstConns || closed != burstConns {
		t.Fatalf("of %d clients, %d got all %d broadcasts in order, %d got Close{allowReconnect: true}, %d got fewer",
			burstConns, full, burstSize, closed, partial)
	}
}

// TestHelperBurstClients is the client side of TestShutdownDeliversBurst,
// run in a child process: it opens the connections, prints "ready", reads
// each until its Close message, and prints "result full=F closed=C
// partial=P": F got every broadcast in order, C got
// Close{allowReconnect: true}, P got fewer broadcasts.
func TestHelperBurstClients(t *testing.T) {
	hubURL := os.Getenv(helperURLEnv)
	if hubURL == "" || os.Getenv(helperConnsEnv) != strconv.Itoa(burstConns) {
		t.Skip("the client process of TestShutdownDeliversBurst")
	}
	conns := make([]*wsClient, burstConns)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for range 32 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < burstConns; i = int(next.Add(1) - 1) {
				c, err := helperConnect(hubURL)
				if err != nil {
					failed.Store(&err)
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		fmt.Printf("fail: %v\n", *err)
		os.Exit(1)
	}
	fmt.Println("ready")

	var full, closed, partial atomic.Int64
	for _, c := range conns {
		wg.Go(func() {
			got := 0
			for {
				rec, err := c.next(time.Minute)
				if err != nil {
					break
				}
				var m struct {
					Type           int    `json:"type"`
					Target         string `json:"target"`
					Arguments      []int  `json:"arguments"`
					AllowReconnect bool   `json:"allowReconnect"`
				}
				_ = json.Unmarshal([]byte(rec), &m)
				if m.Type == 1 && m.Target == "burst" && len(m.Arguments) == 1 && m.Arguments[0] == got {
					got++
				}
				if m.Type == 7 {
					if m.AllowReconnect {
						closed.Add(1)
					}
					break
				}
			}
			if got == burstSize {
				full.Add(1)
			} else {
				partial.Add(1)
			}
		})
	}
	wg.Wait()
	fmt.Printf("result full=%d closed=%d partial=%d\n", full.Load(), closed.Load(), partial.Load())
	os.Exit(0)
}
