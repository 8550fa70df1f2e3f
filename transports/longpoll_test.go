package transports_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
	"github.com/actorhub/actorhub/transports"
)

// pollResult is what one poll got.
type pollResult struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
}

// poll sends one long poll.
func poll(t testing.TB, hubURL, id string, header http.Header) pollResult {
	t.Helper()
	start := time.Now()
	s, h, b := send(t, http.MethodGet, hubURL+"?"+id+"&_="+time.Now().Format("150405.000"), "", header)
	return pollResult{s, h, b, time.Since(start)}
}

// pollAsync sends a poll in the background.
func pollAsync(t testing.TB, hubURL, id string) <-chan pollResult {
	ch := make(chan pollResult, 1)
	go func() { ch <- poll(t, hubURL, id, nil) }()
	return ch
}

// pollMessages polls until it has n hub messages that are not Pings.
func pollMessages(t testing.TB, hubURL, id string, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		r := poll(t, hubURL, id, nil)
		if r.status != http.StatusOK {
			t.Fatalf("poll: %d %s (after %q)", r.status, r.body, got)
		}
		for _, m := range splitRecords(r.body) {
			if !jsonEqual(m, `{"type":6}`) {
				got = append(got, m)
			}
		}
	}
	return got
}

// waitPolling waits until the server holds a poll of the long polling
// connection id ("id=<token>").
func waitPolling(t testing.TB, hd *transports.Handler, id string) {
	t.Helper()
	token := strings.TrimPrefix(id, "id=")
	testutil.Eventually(t, "the poll to wait at the server", func() bool { return transports.Polling(hd, token) })
}

// startLongPoll negotiates and makes the first poll; with handshake it
// also completes the JSON handshake.
func startLongPoll(t testing.TB, hubURL string, handshake bool) string {
	t.Helper()
	n := negotiate(t, hubURL, "negotiateVersion=1", nil)
	id := "id=" + n.ConnectionToken
	if r := poll(t, hubURL, id, nil); r.status != http.StatusOK || len(r.body) != 0 {
		t.Fatalf("first poll: %d %q", r.status, r.body)
	}
	if handshake {
		if s, _, b := send(t, http.MethodPost, hubURL+"?"+id, records(handshakeRequest), nil); s != http.StatusOK {
			t.Fatalf("POST handshake: %d %s", s, b)
		}
		if m := pollMessages(t, hubURL, id, 1); m[0] != "{}" {
			t.Fatalf("handshake answer %q", m)
		}
	}
	return id
}

func checkNoCache(t testing.TB, what string, h http.Header) {
	t.Helper()
	for k, want := range map[string]string{
		"Cache-Control": "no-cache, no-store",
		"Pragma":        "no-cache",
		"Expires":       "Thu, 01 Jan 1970 00:00:00 GMT",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %s %q, want %q", what, k, got, want)
		}
	}
}

// TestLongPoll: the first poll returns at once and empty, later ones carry
// every queued message, a newer poll makes the pending one return 204, a
// poll with nothing to carry returns 200 empty after LongPollTimeout, and
// DELETE ends the connection (the pending poll gets 204, then 404s).
func TestLongPoll(t *testing.T) {
	const pollTimeout = 300 * time.Millisecond
	hubURL, h, hd := startHandler(t, testHub{}, hub.Config{KeepAliveInterval: 100 * time.Millisecond}, transports.Config{LongPollTimeout: pollTimeout})
	n := negotiate(t, hubURL, "negotiateVersion=1", nil)
	id := "id=" + n.ConnectionToken

	first := poll(t, hubURL, id, nil)
	if first.status != http.StatusOK || len(first.body) != 0 || first.header.Get("Content-Length") != "0" {
		t.Fatalf("first poll: %d %q %v", first.status, first.body, first.header)
	}
	if first.took > 2*time.Second {
		t.Fatalf("the first poll took %v", first.took)
	}
	checkNoCache(t, "first poll", first.header)

	if s, _, b := send(t, http.MethodPost, hubURL+"?"+id, records(handshakeRequest), nil); s != http.StatusOK {
		t.Fatalf("POST handshake: %d %s", s, b)
	}
	r := poll(t, hubURL, id, nil)
	if r.status != http.StatusOK || string(r.body) != "{}\x1e" || r.header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("handshake poll: %d %q %v", r.status, r.body, r.header)
	}
	checkNoCache(t, "poll", r.header)

	t.Run("all queued messages in one poll", func(t *testing.T) {
		body := records(invocation("1", "Echo", "a"), invocation("2", "Add", 40, 2), invocation("3", "Echo", strings.Repeat("x", 20000)))
		if s, _, b := send(t, http.MethodPost, hubURL+"?"+id, body, nil); s != http.StatusOK {
			t.Fatalf("POST: %d %s", s, b)
		}
		// The POST returns once the messages are in; their answers queue
		// meanwhile (long polling has no pings), and one poll carries all
		// three.
		token := strings.TrimPrefix(id, "id=")
		testutil.Eventually(t, "three answers queued", func() bool { return transports.Queued(hd, token) == 3 })
		r := poll(t, hubURL, id, nil)
		got := splitRecords(r.body)
		if r.status != http.StatusOK || len(got) != 3 || !jsonEqual(got[0], `{"type":3,"invocationId":"1","result":"a"}`) ||
			!jsonEqual(got[1], `{"type":3,"invocationId":"2","result":42}`) ||
			!jsonEqual(got[2], `{"type":3,"invocationId":"3","result":"`+strings.Repeat("x", 20000)+`"}`) {
			t.Fatalf("one poll: %d, %d messages: %.200q", r.status, len(got), got)
		}
	})
	t.Run("no pings, timeout 200 empty", func(t *testing.T) {
		r := poll(t, hubURL, id, nil)
		if r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("Content-Length") != "0" {
			t.Fatalf("poll: %d %q", r.status, r.body)
		}
		if r.took < pollTimeout-50*time.Millisecond {
			t.Fatalf("the poll returned after %v, before LongPollTimeout %v", r.took, pollTimeout)
		}
		checkNoCache(t, "timed out poll", r.header)
	})
	t.Run("a newer poll takes over", func(t *testing.T) {
		old := pollAsync(t, hubURL, id)
		waitPolling(t, hd, id)
		newer := pollAsync(t, hubURL, id)
		if r := <-old; r.status != http.StatusNoContent {
			t.Fatalf("old poll: %d %q", r.status, r.body)
		}
		send(t, http.MethodPost, hubURL+"?"+id, records(invocation("4", "Echo", "b")), nil)
		r := <-newer
		if r.status != http.StatusOK || !jsonEqual(splitRecords(r.body)[0], `{"type":3,"invocationId":"4","result":"b"}`) {
			t.Fatalf("newer poll: %d %q", r.status, r.body)
		}
	})
	t.Run("other transports 400, no id 400, unknown 404", func(t *testing.T) {
		if c := openSSE(t, hubURL, id, nil); c.resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("SSE: %d", c.resp.StatusCode)
		}
		if s := dialStatus(t, hubURL, id, nil); s != http.StatusBadRequest {
			t.Fatalf("WebSocket: %d", s)
		}
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			if s, _, b := send(t, m, hubURL, "", nil); s != http.StatusBadRequest || string(b) != "Connection ID required" {
				t.Fatalf("%s without id: %d %q", m, s, b)
			}
			if s, _, b := send(t, m, hubURL+"?id=nope", "", nil); s != http.StatusNotFound || string(b) != "No Connection with that ID" {
				t.Fatalf("%s unknown id: %d %q", m, s, b)
			}
		}
	})

	pending := pollAsync(t, hubURL, id)
	waitPolling(t, hd, id)
	if s, _, b := send(t, http.MethodDelete, hubURL+"?"+id, "", nil); s != http.StatusAccepted {
		t.Fatalf("DELETE: %d %s", s, b)
	}
	if r := <-pending; r.status != http.StatusNoContent {
		t.Fatalf("pending poll after DELETE: %d %q", r.status, r.body)
	}
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		if s, _, b := send(t, m, hubURL+"?"+id, "", nil); s != http.StatusNotFound {
			t.Fatalf("%s after DELETE: %d %s", m, s, b)
		}
	}
	testutil.EventuallyWithin(t, 5*time.Second, "the connection to go", func() bool { return h.Stats().Open == 0 })
}

// TestLongPollClosed: once the connection ends, the queued messages (its
// Close) go to the next poll, then polls get 204 and the token is gone.
func TestLongPollClosed(t *testing.T) {
	hubURL, h, hd := startHandler(t, testHub{}, hub.Config{}, transports.Config{})
	id := startLongPoll(t, hubURL, true)
	send(t, http.MethodPost, hubURL+"?"+id, records(invocation("", "Fail"), `{"type":1,"target":"Echo","arguments":[`), nil)
	got := pollMessages(t, hubURL, id, 1)
	if !jsonEqual(got[0], closedWithError) {
		t.Fatalf("got %q", got)
	}
	if r := poll(t, hubURL, id, nil); r.status != http.StatusNoContent {
		t.Fatalf("poll after the end: %d %q", r.status, r.body)
	}
	if r := poll(t, hubURL, id, nil); r.status != http.StatusNotFound {
		t.Fatalf("poll after the 204: %d %q", r.status, r.body)
	}
	testutil.EventuallyWithin(t, 5*time.Second, "the connection to go", func() bool { return h.Stats().Open == 0 })

	// A pending poll gets the Close at once, then 204.
	id = startLongPoll(t, hubURL, true)
	pending := pollAsync(t, hubURL, id)
	waitPolling(t, hd, id)
	if err := shutdownHub(t, h); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if r := <-pending; r.status != http.StatusOK || !jsonEqual(splitRecords(r.body)[0], `{"type":7,"allowReconnect":true}`) {
		t.Fatalf("pending poll at shutdown: %d %q", r.status, r.body)
	}
	if r := poll(t, hubURL, id, nil); r.status != http.StatusNoContent {
		t.Fatalf("poll after shutdown: %d %q", r.status, r.body)
	}
}

// TestLongPollDrop: a server Drop cuts the pending poll's TCP connection
// (the client sees an error, not 204) and later polls get 404.
func TestLongPollDrop(t *testing.T) {
	hubURL, h, hd := startHandler(t, testHub{}, hub.Config{}, transports.Config{})
	id := startLongPoll(t, hubURL, true)
	done := make(chan error, 1)
	go func() {
		resp, err := plain.Get(hubURL + "?" + id)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitPolling(t, hd, id)
	send(t, http.MethodPost, hubURL+"?"+id, records(invocation("", "Drop")), nil)
	if err := <-done; err == nil {
		t.Fatal("the pending poll of a dropped connection got an answer")
	}
	if r := poll(t, hubURL, id, nil); r.status != http.StatusNotFound {
		t.Fatalf("poll after the drop: %d", r.status)
	}
	testutil.EventuallyWithin(t, 5*time.Second, "the connection to go", func() bool { return h.Stats().Open == 0 })
	if s := h.Stats().Closes["transport"]; s != 1 {
		t.Fatalf("transport closes %d, want 1", s)
	}
}

// TestLongPollAbandoned: a client that stops polling without a word, even
// with a poll cut mid-wait, is closed after DisconnectTimeout and leaves no
// goroutine and no connection behind. Long polling has no keep-alive and
// no client timeout: a client polling on time stays.
func TestLongPollAbandoned(t *testing.T) {
	const timeout = 600 * time.Millisecond
	hubURL, h, hd := startHandler(t, testHub{},
		hub.Config{KeepAliveInterval: 100 * time.Millisecond, ClientTimeoutInterval: 200 * time.Millisecond, DisconnectTimeout: timeout},
		transports.Config{LongPollTimeout: 200 * time.Millisecond})
	kept := startLongPoll(t, hubURL, true)
	id := startLongPoll(t, hubURL, true)
	http.DefaultClient.CloseIdleConnections()                             // negotiate's
	send(t, http.MethodPost, hubURL+"?"+kept, records(`{"type":6}`), nil) // the client pings: still no client timeout

	// A poll whose client goes away mid-wait.
	req, _ := http.NewRequest(http.MethodGet, hubURL+"?"+id, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		if testutil.Poll(testutil.Wait, func() bool { return transports.Polling(hd, strings.TrimPrefix(id, "id=")) }) {
			cancel()
		}
	}()
	if resp, err := plain.Do(req.WithContext(ctx)); err == nil {
		resp.Body.Close()
		t.Fatal("the cancelled poll got an answer")
	}

	start := time.Now()
	for h.Stats().Open != 1 {
		if time.Since(start) > timeout+5*time.Second {
			t.Fatalf("the abandoned connection is still there: %+v", h.Stats())
		}
		if r := poll(t, hubURL, kept, nil); r.status != http.StatusOK {
			t.Fatalf("the polling client: %d %q", r.status, r.body)
		}
	}
	if d := time.Since(start); d < timeout-100*time.Millisecond {
		t.Fatalf("closed after %v, before DisconnectTimeout %v", d, timeout)
	}
	for range 3 { // the polling client outlives several timeouts
		if r := poll(t, hubURL, kept, nil); r.status != http.StatusOK || len(r.body) != 0 {
			t.Fatalf("the polling client: %d %q", r.status, r.body)
		}
	}
	if s := h.Stats(); s.Connections != 1 || s.Closes["transport"] != 1 || s.Closes["timeout"] != 0 {
		t.Fatalf("stats %+v", s)
	}
	if r := poll(t, hubURL, id, nil); r.status != http.StatusNotFound {
		t.Fatalf("poll of the abandoned connection: %d", r.status)
	}
	send(t, http.MethodDelete, hubURL+"?"+kept, "", nil)
	testutil.EventuallyWithin(t, 5*time.Second, "the connections to go", func() bool { return h.Stats().Open == 0 })
	waitNoRequests(t)
}

// TestLongPollAuth: polls, POSTs and DELETEs must carry the negotiating
// user's token; a refused one leaves the connection to its owner.
func TestLongPollAuth(t *testing.T) {
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{Authenticator: testTokens})
	ann := http.Header{"Authorization": {"Bearer test:ann"}}
	bob := http.Header{"Authorization": {"Bearer test:bob"}}
	n := negotiate(t, hubURL, "negotiateVersion=1", ann)
	id := "id=" + n.ConnectionToken
	if r := poll(t, hubURL, id, bob); r.status != http.StatusForbidden {
		t.Fatalf("first poll as another user: %d", r.status)
	}
	if r := poll(t, hubURL, id, nil); r.status != http.StatusForbidden {
		t.Fatalf("first poll anonymous: %d", r.status)
	}
	if r := poll(t, hubURL, id, ann); r.status != http.StatusOK {
		t.Fatalf("first poll: %d", r.status)
	}
	if r := poll(t, hubURL, id, bob); r.status != http.StatusForbidden {
		t.Fatalf("poll as another user: %d", r.status)
	}
	if s, _, _ := send(t, http.MethodPost, hubURL+"?"+id, records(handshakeRequest), bob); s != http.StatusForbidden {
		t.Fatalf("POST as another user: %d", s)
	}
	if s, _, _ := send(t, http.MethodDelete, hubURL+"?"+id, "", bob); s != http.StatusForbidden {
		t.Fatalf("DELETE as another user: %d", s)
	}
	send(t, http.MethodPost, hubURL+"?"+id, records(handshakeRequest, invocation("1", "WhoAmI")), ann)
	var got []string
	for len(got) < 2 {
		r := poll(t, hubURL, id, ann)
		got = append(got, splitRecords(r.body)...)
	}
	if !jsonEqual(got[1], `{"type":3,"invocationId":"1","result":"ann"}`) {
		t.Fatalf("got %q", got)
	}
	if s, _, _ := send(t, http.MethodDelete, hubURL+"?"+id, "", ann); s != http.StatusAccepted {
		t.Fatalf("DELETE: %d", s)
	}
}

// TestPostLimits: a POST body over the limit gets 413 and closes the
// connection; a POST to a connection no transport started gets 404, to a
// WebSocket connection 405.
func TestPostLimits(t *testing.T) {
	hubURL, h := startServer(t, hub.Config{MaximumReceiveMessageSize: 1024}, transports.Config{})
	id := startLongPoll(t, hubURL, true)
	// The head announces the size; the server answers before the body
	// (sending it all would race the server's close of the connection).
	conn, err := net.Dial("tcp", hostOf(t, hubURL))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /hub?%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n{", id, h.TransportOptions().MaxTransportMessageSize+1)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("a big POST: %v", err)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a big POST: %d", resp.StatusCode)
	}
	if got := pollMessages(t, hubURL, id, 1); !jsonEqual(got[0], closedWithError) {
		t.Fatalf("got %q", got)
	}
	testutil.EventuallyWithin(t, 5*time.Second, "the connection to go", func() bool { return h.Stats().Open == 0 })

	n := negotiate(t, hubURL, "negotiateVersion=1", nil)
	if s, _, b := send(t, http.MethodPost, hubURL+"?id="+n.ConnectionToken, records(handshakeRequest), nil); s != http.StatusNotFound {
		t.Fatalf("POST before a transport: %d %s", s, b)
	}
	ws := negotiate(t, hubURL, "negotiateVersion=1", nil)
	dial(t, hubURL, "id="+ws.ConnectionToken, nil).handshake()
	if s, _, b := send(t, http.MethodPost, hubURL+"?id="+ws.ConnectionToken, records(`{"type":6}`), nil); s != http.StatusMethodNotAllowed {
		t.Fatalf("POST to a WebSocket connection: %d %s", s, b)
	}
}

// TestTransportsConfig: transports turned off are not negotiated and get
// 404.
func TestTransportsConfig(t *testing.T) {
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{Transports: transports.WebSockets | transports.ServerSentEvents})
	status, _, body := post(t, hubURL+"/negotiate?negotiateVersion=1", nil)
	if status != http.StatusOK || !strings.Contains(string(body), `"availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]},{"transport":"ServerSentEvents","transferFormats":["Text"]}]`) {
		t.Fatalf("negotiate: %d %s", status, body)
	}
	n := negotiate(t, hubURL, "negotiateVersion=1", nil)
	if r := poll(t, hubURL, "id="+n.ConnectionToken, nil); r.status != http.StatusNotFound {
		t.Fatalf("long poll: %d", r.status)
	}

	hubURL, _ = startServer(t, hub.Config{}, transports.Config{Transports: transports.LongPolling})
	status, _, body = post(t, hubURL+"/negotiate?negotiateVersion=1", nil)
	if status != http.StatusOK || !strings.Contains(string(body), `"availableTransports":[{"transport":"LongPolling","transferFormats":["Text","Binary"]}]`) {
		t.Fatalf("negotiate: %d %s", status, body)
	}
	n = negotiate(t, hubURL, "negotiateVersion=1", nil)
	if s := dialStatus(t, hubURL, "id="+n.ConnectionToken, nil); s != http.StatusNotFound {
		t.Fatalf("WebSocket: %d", s)
	}
	if s := dialStatus(t, hubURL, "", nil); s != http.StatusNotFound {
		t.Fatalf("WebSocket without negotiate: %d", s)
	}
	if c := openSSE(t, hubURL, "id="+n.ConnectionToken, nil); c.resp.StatusCode != http.StatusNotFound {
		t.Fatalf("SSE: %d", c.resp.StatusCode)
	}
	startLongPoll(t, hubURL, true)
}

func TestParseTransports(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want transports.TransportType
	}{
		{"websockets,sse,longpolling", transports.AllTransports},
		{"WebSockets, ServerSentEvents", transports.WebSockets | transports.ServerSentEvents},
		{"lp", transports.LongPolling},
		{"ws,", transports.WebSockets},
	} {
		got, err := transports.ParseTransports(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseTransports(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", ",", "carrier-pigeon", "ws,foo"} {
		if _, err := transports.ParseTransports(in); err == nil {
			t.Errorf("ParseTransports(%q) took it", in)
		}
	}
	if s := (transports.WebSockets | transports.LongPolling).String(); s != "WebSockets,LongPolling" {
		t.Errorf("String %q", s)
	}
}

// TestLongPollSlowConsumer: a client that stops polling while messages pile
// up is closed as a slow consumer once they pass MaxBufferedBytes; its next
// poll gets what was queued, ending with the Close.
func TestLongPollSlowConsumer(t *testing.T) {
	hubURL, h := startServer(t, hub.Config{MaxBufferedBytes: 8 << 10}, transports.Config{})
	id := startLongPoll(t, hubURL, true)
	sender := connect(t, hubURL)
	for range 10 {
		sender.send(invocation("", "SendToAll", strings.Repeat("x", 2000)))
	}
	testutil.EventuallyWithin(t, 5*time.Second, "the slow consumer to be closed", func() bool { return h.Stats().Closes["slow_consumer"] == 1 })
	r := poll(t, hubURL, id, nil)
	msgs := splitRecords(r.body)
	if r.status != http.StatusOK || len(msgs) < 2 || !jsonEqual(msgs[len(msgs)-1], closedWithError) {
		t.Fatalf("poll: %d, %d messages, last %.100q", r.status, len(msgs), msgs[len(msgs)-1:])
	}
	if r := poll(t, hubURL, id, nil); r.status != http.StatusNoContent {
		t.Fatalf("poll after the end: %d", r.status)
	}
}
