package transports_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/actorhub/actorhub/internal/testutil"
)

// plain is an HTTP client that keeps no connection between requests, so
// that goroutine counts go back to where they were once a request is done.
var plain = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// send makes a request with body (none when "") and returns the status,
// headers and body.
func send(t testing.TB, method, u, body string, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := plain.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, u, err)
	}
	return resp.StatusCode, resp.Header, b
}

// records joins hub messages, each followed by 0x1E.
func records(msgs ...string) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(m)
		b.WriteByte(0x1e)
	}
	return b.String()
}

// splitRecords splits a JSON transport message into its records.
func splitRecords(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0x1e)
		if i < 0 {
			return append(out, "partial:"+string(b))
		}
		out = append(out, string(b[:i]))
		b = b[i+1:]
	}
	return out
}

// sseClient is a raw Server-Sent Events request on its own TCP connection
// (no client goroutine), read byte by byte as the server wrote it.
type sseClient struct {
	t    testing.TB
	conn net.Conn
	resp *http.Response
	body *bufio.Reader
}

// openSSE sends GET hubURL?query with Accept: text/event-stream and reads
// the response head; the connection is closed at the end of the test.
func openSSE(t testing.TB, hubURL, query string, header http.Header) *sseClient {
	t.Helper()
	conn, err := net.Dial("tcp", hostOf(t, hubURL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req, err := http.NewRequest(http.MethodGet, hubURL+"?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	for k, v := range header {
		req.Header[k] = v
	}
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("SSE response: %v", err)
	}
	return &sseClient{t: t, conn: conn, resp: resp, body: bufio.NewReader(resp.Body)}
}

// readN reads exactly n bytes of the body.
func (c *sseClient) readN(n int) string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c.body, b); err != nil {
		c.t.Fatalf("SSE read: %v", err)
	}
	return string(b)
}

// rawEvent reads one event as sent, up to and including its empty line.
func (c *sseClient) rawEvent() string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var ev strings.Builder
	for {
		line, err := c.body.ReadString('\n')
		if err != nil {
			c.t.Fatalf("SSE read: %v (after %q)", err, ev.String()+line)
		}
		ev.WriteString(line)
		if line == "\r\n" {
			return ev.String()
		}
	}
}

// event reads one event and returns its hub messages.
func (c *sseClient) event() []string {
	c.t.Helper()
	ev := c.rawEvent()
	var data []string
	for _, line := range strings.Split(strings.TrimSuffix(ev, "\r\n\r\n"), "\r\n") {
		d, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			c.t.Fatalf("event line %q in %q", line, ev)
		}
		data = append(data, d)
	}
	return splitRecords([]byte(strings.Join(data, "\n")))
}

// message returns the next hub message that is not a Ping.
func (c *sseClient) message() string {
	c.t.Helper()
	for {
		for _, m := range c.event() {
			if !jsonEqual(m, `{"type":6}`) {
				return m
			}
		}
	}
}

// end reads to the end of the response: nil for a complete response, the
// error of a cut one.
func (c *sseClient) end() error {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c.body)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("the server did not end the event stream")
	}
	return err
}

// waitNoRequests waits until no goroutine serves an HTTP connection or
// holds one on the client side (an SSE request or a poll left behind would),
// and fails the test with their stacks if that does not happen within 10 s.
// Unlike a goroutine count it ignores the worker pools, which grow and
// shrink on their own.
func waitNoRequests(t testing.TB) {
	t.Helper()
	http.DefaultClient.CloseIdleConnections()
	var left []string
	if !testutil.Poll(10*time.Second, func() bool {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		left = left[:0]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "net/http.(*conn).serve") || strings.Contains(g, "net/http.(*persistConn)") {
				left = append(left, g)
			}
		}
		return len(left) == 0
	}) {
		t.Fatalf("%d HTTP goroutines left:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}
