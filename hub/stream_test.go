package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/internal/testutil"
)

// streamer is a hub of streaming, uploading and client-result methods.
type streamer struct {
	cancelled testutil.Events // invocation ids whose stream saw its context end
	yielded   atomic.Int64    // items Fast produced
	summed    atomic.Int64    // upload items Sum took
	asked     chan error      // what Ask's wait ended with, when set
	hold      chan struct{}
}

func (s *streamer) Counter(n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := range n {
			if !yield(i) {
				return
			}
		}
	}
}

func (s *streamer) Chan(ctx *hub.Context, n int) (<-chan string, error) {
	ch := make(chan string)
	go func() {
		defer close(ch)
		for i := range n {
			select {
			case ch <- fmt.Sprint("item", i):
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

func (s *streamer) Failing(n int, hubErr bool) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		for i := range n {
			if !yield(i, nil) {
				return
			}
		}
		if hubErr {
			yield(0, hub.Errorf("bad %d", n))
		} else {
			yield(0, errors.New("secret"))
		}
	}
}

// Forever streams until its context ends, which it records.
func (s *streamer) Forever(ctx *hub.Context) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := 0; ; i++ {
			if ctx.Err() != nil {
				s.cancelled.Add(ctx.InvocationID)
				return
			}
			if !yield(i) {
				if ctx.Err() != nil {
					s.cancelled.Add(ctx.InvocationID)
				}
				return
			}
			time.Sleep(time.Millisecond) // paces the stream: an item a millisecond, not synchronisation
		}
	}
}

// Fast streams n items as fast as it may, counting them.
func (s *streamer) Fast(n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := range n {
			s.yielded.Add(1)
			if !yield(i) {
				return
			}
		}
	}
}

func (s *streamer) Refuse() (<-chan int, error) { return nil, hub.Errorf("not now") }

func (s *streamer) Panics() iter.Seq[int] {
	return func(yield func(int) bool) {
		yield(1)
		panic("in the stream")
	}
}

func (s *streamer) Plain() int { return 7 }

func (s *streamer) Echo(v string) string { return v }

func (s *streamer) Sum(st *hub.Stream[int]) (int, error) {
	sum := 0
	for v := range st.All() {
		sum += v
		s.summed.Add(1)
	}
	return sum, st.Err()
}

// Why returns the text of the upload's error.
func (s *streamer) Why(st *hub.Stream[int]) string {
	for range st.All() {
	}
	var ce *hub.ClientError
	if err := st.Err(); errors.As(err, &ce) {
		return "client: " + ce.Message
	}
	return fmt.Sprint(st.Err())
}

func (s *streamer) Pair(a *hub.Stream[int], label string, b *hub.Stream[string]) string {
	var out []string
	for v := range a.All() {
		out = append(out, fmt.Sprint(v))
	}
	for v := range b.All() {
		out = append(out, v)
	}
	return label + ":" + strings.Join(out, ",")
}

// Ignore returns without reading its upload stream.
func (s *streamer) Ignore(st *hub.Stream[int]) int { return 1 }

// Stall holds its turn, without reading its upload, until hold is closed.
func (s *streamer) Stall(st *hub.Stream[int]) int { <-s.hold; return 0 }

// Doubles streams each uploaded number twice: an upload into a stream.
func (s *streamer) Doubles(st *hub.Stream[int]) iter.Seq[int] {
	return func(yield func(int) bool) {
		for v := range st.All() {
			if !yield(2 * v) {
				return
			}
		}
	}
}

func (s *streamer) Ask(ctx *hub.Context, method string) (any, error) {
	v, err := hub.InvokeClient[any](ctx, ctx.Clients.Caller(), method, "question")
	if s.asked != nil {
		s.asked <- err
	}
	return v, err
}

func (s *streamer) AskTimeout(ctx *hub.Context, ms int) error {
	c, cancel := context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
	defer cancel()
	var n int
	return ctx.Clients.Caller().Invoke(c, "Slow", &n)
}

func (s *streamer) AskMany(ctx *hub.Context) error {
	var n int
	return ctx.Clients.All().Invoke(ctx, "X", &n)
}

// frame is any hub message as JSON, with a stream item.
type frame struct {
	Type         int             `json:"type"`
	InvocationID string          `json:"invocationId"`
	Target       string          `json:"target"`
	Arguments    []any           `json:"arguments"`
	Item         json.RawMessage `json:"item"`
	Error        string          `json:"error"`
	Result       json.RawMessage `json:"result"`
}

func frames(t testing.TB, c *client) []frame {
	var out []frame
	for _, m := range c.received() {
		var f frame
		if err := json.Unmarshal([]byte(m), &f); err != nil {
			t.Fatalf("bad message %q: %v", m, err)
		}
		out = append(out, f)
	}
	return out
}

// streamOf returns the items of stream id received so far, and its
// Completion once it has come.
func streamOf(t testing.TB, c *client, id string) (items []string, done *frame) {
	for _, f := range frames(t, c) {
		if f.InvocationID != id {
			continue
		}
		switch f.Type {
		case 2:
			if done != nil {
				t.Fatalf("stream %s: item %s after its Completion", id, f.Item)
			}
			items = append(items, string(f.Item))
		case 3:
			if done != nil {
				t.Fatalf("stream %s: two Completions", id)
			}
			done = &f
		}
	}
	return items, done
}

// waitStream waits for stream id's Completion.
func waitStream(t testing.TB, c *client, id string) ([]string, *frame) {
	t.Helper()
	var items []string
	var done *frame
	testutil.Eventually(t, "end of stream "+id, func() bool {
		items, done = streamOf(t, c, id)
		return done != nil
	})
	return items, done
}

func streamInvocation(id, target string, args ...any) string {
	a, _ := json.Marshal(append([]any{}, args...))
	return fmt.Sprintf(`{"type":4,"invocationId":%q,"target":%q,"arguments":%s}`, id, target, a)
}

func TestStreamItemsThenCompletion(t *testing.T) {
	h := newHub(t, &streamer{}, hub.Config{})
	c := dial(t, h, "c1", "")
	c.feed(streamInvocation("s", "counter", 5), streamInvocation("ch", "Chan", 3))
	items, done := waitStream(t, c, "s")
	if want := []string{"0", "1", "2", "3", "4"}; !slices.Equal(items, want) {
		t.Fatalf("items %q, want %q", items, want)
	}
	if done.Error != "" || done.Result != nil {
		t.Fatalf("completion %+v, want neither result nor error", done)
	}
	items, _ = waitStream(t, c, "ch")
	if want := []string{`"item0"`, `"item1"`, `"item2"`}; !slices.Equal(items, want) {
		t.Fatalf("chan items %q, want %q", items, want)
	}
	for _, m := range c.received() {
		if strings.Contains(m, `"type":3`) && strings.Contains(m, `"s"`) && m != `{"type":3,"invocationId":"s"}` {
			t.Fatalf("completion on the wire %s", m)
		}
	}
}

func TestStreamErrors(t *testing.T) {
	for _, detailed := range []bool{false, true} {
		t.Run(fmt.Sprint("detailed=", detailed), func(t *testing.T) {
			h := newHub(t, &streamer{}, hub.Config{EnableDetailedErrors: detailed})
			c := dial(t, h, "c1", "")
			c.feed(streamInvocation("f1", "Failing", 2, false), streamInvocation("f2", "Failing", 1, true),
				streamInvocation("f3", "Refuse"), streamInvocation("f4", "Panics"))
			items, done := waitStream(t, c, "f1")
			want := "An error occurred on the server while streaming results."
			if detailed {
				want += " Error: secret" // errors.New's type is unexported
			}
			if !slices.Equal(items, []string{"0", "1"}) || done.Error != want {
				t.Fatalf("items %q then %q, want [0 1] then %q", items, done.Error, want)
			}
			items, done = waitStream(t, c, "f2")
			if want := "An error occurred on the server while streaming results. HubException: bad 1"; len(items) != 1 || done.Error != want {
				t.Fatalf("items %q then %q, want 1 item then %q", items, done.Error, want)
			}
			// A method that fails before it has a stream fails the
			// invocation, as ASP.NET Core words it (its functional tests'
			// StreamThrowException).
			_, done = waitStream(t, c, "f3")
			if want := "An unexpected error occurred invoking 'Refuse' on the server. HubException: not now"; done.Error != want {
				t.Fatalf("Refuse: %q, want %q", done.Error, want)
			}
			items, done = waitStream(t, c, "f4")
			if len(items) != 1 || !strings.HasPrefix(done.Error, "An error occurred on the server while streaming results.") {
				t.Fatalf("Panics: items %q then %q", items, done.Error)
			}
			if got := c.invoke("Echo", "still here").Result; got != `"still here"` {
				t.Fatalf("after failed streams: %s", got)
			}
		})
	}
}

func TestStreamInvocationModes(t *testing.T) {
	h := newHub(t, &streamer{}, hub.Config{})
	c := dial(t, h, "c1", "")
	if got, want := c.invoke("Counter", 3).Error, "The client attempted to invoke the streaming 'Counter' method with a non-streaming invocation."; got != want {
		t.Fatalf("Invocation of a stream: %q, want %q", got, want)
	}
	c.feed(streamInvocation("p", "plain"))
	if _, done := waitStream(t, c, "p"); done.Error != "The client attempted to invoke the non-streaming 'plain' method with a streaming invocation." {
		t.Fatalf("StreamInvocation of a plain method: %q", done.Error)
	}
	c.feed(streamInvocation("n", "Nope"))
	if _, done := waitStream(t, c, "n"); done.Error != "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist." {
		t.Fatalf("unknown stream method: %q", done.Error)
	}
	c.feed(streamInvocation("b", "Counter", "x"))
	if _, done := waitStream(t, c, "b"); done.Error != "Failed to invoke 'Counter' due to an error on the server." {
		t.Fatalf("bad stream arguments: %q", done.Error)
	}
}

func TestStreamIDInUse(t *testing.T) {
	s := &streamer{}
	h := newHub(t, s, hub.Config{})
	c := dial(t, h, "c1", "")
	c.feed(streamInvocation("x", "Forever"))
	testutil.Eventually(t, "items of x", func() bool { items, _ := streamOf(t, c, "x"); return len(items) > 0 })
	c.feed(streamInvocation("x", "Counter", 2))
	var dup *frame
	testutil.Eventually(t, "the refusal", func() bool {
		for _, f := range frames(t, c) {
			if f.Type == 3 && f.InvocationID == "x" {
				dup = &f
				return true
			}
		}
		return false
	})
	if want := "Invocation ID 'x' is already in use."; dup.Error != want {
		t.Fatalf("got %q, want %q", dup.Error, want)
	}
}

func TestStreamCancel(t *testing.T) {
	s := &streamer{}
	h := newHub(t, s, hub.Config{})
	c := dial(t, h, "c1", "")
	c.feed(streamInvocation("f", "Forever"))
	testutil.Eventually(t, "3 items", func() bool { items, _ := streamOf(t, c, "f"); return len(items) >= 3 })
	c.feed(`{"type":5,"invocationId":"unknown"}`, `{"type":5,"invocationId":"f"}`)
	items, done := waitStream(t, c, "f")
	if done.Error != "" {
		t.Fatalf("a cancelled stream completes without error, got %q", done.Error)
	}
	testutil.Eventually(t, "the producer to see the cancellation", func() bool { return slices.Equal(s.cancelled.All(), []string{"f"}) })
	// The Echo's Completion comes after anything the stream could still
	// have sent: one connection, one mailbox, in order.
	if got := c.invoke("Echo", "ok").Result; got != `"ok"` {
		t.Fatalf("after cancel: %s", got)
	}
	if after, _ := streamOf(t, c, "f"); len(after) != len(items) {
		t.Fatalf("%d items after the Completion", len(after)-len(items))
	}
}

// streamGoroutines counts the goroutines that send streams.
func streamGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "hub.(*Hub).runStream")
}

func TestStreamsEndWithTheConnection(t *testing.T) {
	s := &streamer{}
	h := newHub(t, s, hub.Config{})
	c := dial(t, h, "c1", "")
	for _, id := range []string{"a", "b", "c"} {
		c.feed(streamInvocation(id, "Forever"))
	}
	c.feed(streamInvocation("d", "Chan", 1<<30))
	testutil.Eventually(t, "the streams to run", func() bool {
		for _, id := range []string{"a", "b", "c", "d"} {
			if items, _ := streamOf(t, c, id); len(items) == 0 {
				return false
			}
		}
		return true
	})
	if n := streamGoroutines(); n < 4 {
		t.Fatalf("%d stream goroutines, want at least 4", n)
	}
	c.tr.Close(false)
	testutil.Eventually(t, "the stream goroutines to end", func() bool { return streamGoroutines() == 0 })
	got := s.cancelled.All()
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("cancelled %q", got)
	}
}

// A producer waits for a client whose writes do not go through.
func TestStreamBackpressure(t *testing.T) {
	s := &streamer{}
	h := newHub(t, s, hub.Config{})
	c := dial(t, h, "c1", "")
	open := c.tr.Gate()
	const n = 2000
	c.feed(streamInvocation("f", "Fast", n))
	testutil.Eventually(t, "the producer to start", func() bool { return s.yielded.Load() > 0 })
	// The behaviour under test, not synchronisation: given 100 ms, a
	// producer without back-pressure would run through all 2,000 items.
	time.Sleep(100 * time.Millisecond)
	if y := s.yielded.Load(); y > 64 {
		t.Fatalf("the producer ran %d items ahead of a client that takes none", y)
	}
	open()
	items, done := waitStream(t, c, "f")
	if len(items) != n || done.Error != "" {
		t.Fatalf("%d items, completion %+v", len(items), done)
	}
	for i, it := range items {
		if it != fmt.Sprint(i) {
			t.Fatalf("item %d is %s", i, it)
		}
	}
}

func invocationWithStreams(id, target string, streams []string, args ...any) string {
	a, _ := json.Marshal(append([]any{}, args...))
	if streams == nil {
		return fmt.Sprintf(`{"type":1,"invocationId":%q,"target":%q,"arguments":%s}`, id, target, a)
	}
	s, _ := json.Marshal(streams)
	return fmt.Sprintf(`{"type":1,"invocationId":%q,"target":%q,"arguments":%s,"streamIds":%s}`, id, target, a, s)
}

func item(id string, v any) string {
	b, _ := json.Marshal(v)
	return fmt.Sprintf(`{"type":2,"invocationId":%q,"item":%s}`, id, b)
}

func complete(id, errText string) string {
	if errText != "" {
		return fmt.Sprintf(`{"type":3,"invocationId":%q,"error":%q}`, id, errText)
	}
	return fmt.Sprintf(`{"type":3,"invocationId":%q}`, id)
}

func TestUploadStream(t *testing.T) {
	s := &streamer{}
	h := newHub(t, s, hub.Config{})
	c := dial(t, h, "c1", "")
	// All in one transport message, as the JS client batches: stream ids
	// come from the invocation counter before the invocation's own id.
	msgs := []string{invocationWithStreams("1", "Sum", []string{"0"})}
	for i := 1; i <= 10; i++ {
		msgs = append(msgs, item("0", i))
	}
	c.feed(append(msgs, complete("0", ""))...)
	if got := c.waitCompletion("1"); got.Result != "55" || got.Error != "" {
		t.Fatalf("Sum: %+v", got)
	}
	// The method waits in its turn for items fed one by one.
	c.feed(invocationWithStreams("3", "sum", []string{"2"}))
	for i := 1; i <= 30; i++ {
		c.feed(item("2", i))
	}
	testutil.Eventually(t, "Sum to take the 30 items", func() bool { return s.summed.Load() == 10+30 })
	if _, ok := c.completion("3"); ok {
		t.Fatal("Sum completed before its stream")
	}
	c.feed(complete("2", ""))
	if got := c.waitCompletion("3"); got.Result != "465" {
		t.Fatalf("Sum: %+v", got)
	}
	// Two streams around an argument.
	c.feed(invocationWithStreams("6", "Pair", []string{"4", "5"}, "L"),
		item("5", "b1"), item("4", 1), item("5", "b2"), item("4", 2), complete("5", ""), complete("4", ""))
	if got := c.waitCompletion("6").Result; got != `"L:1,2,b1,b2"` {
		t.Fatalf("Pair: %s", got)
	}
	// Upload into a stream.
	c.feed(`{"type":4,"invocationId":"8","target":"Doubles","arguments":[],"streamIds":["7"]}`, item("7", 1), item("7", 5), complete("7", ""))
	if items, done := waitStream(t, c, "8"); !slices.Equal(items, []string{"2", "10"}) || done.Error != "" {
		t.Fatalf("Doubles: %q %+v", items, done)
	}
}

func TestUploadStreamErrors(t *testing.T) {
	h := newHub(t, &streamer{}, hub.Config{})
	c := dial(t, h, "c1", "")
	// ASP.NET completes the upload with a HubException of the client's
	// text, so a method that returns it shows that text (its functional
	// tests' StreamingConcat), detailed errors or not.
	c.feed(invocationWithStreams("u1", "Sum", []string{"0"}), item("0", 1), complete("0", "x"))
	if got, want := c.waitCompletion("u1").Error, "An unexpected error occurred invoking 'Sum' on the server. HubException: x"; got != want {
		t.Fatalf("failed upload: %q, want %q", got, want)
	}
	c.feed(invocationWithStreams("u3", "Why", []string{"2"}), complete("2", "Error: x"))
	if got := c.waitCompletion("u3").Result; got != `"client: Error: x"` {
		t.Fatalf("the method sees %s", got)
	}
	c.feed(invocationWithStreams("u5", "Sum", []string{"4"}), item("4", "not a number"), item("4", 2), complete("4", ""))
	if got, want := c.waitCompletion("u5").Error, "An unexpected error occurred invoking 'Sum' on the server."; got != want {
		t.Fatalf("undecodable item: %q, want %q", got, want)
	}
	for _, tc := range []struct {
		msg, id, want string
	}{
		{invocationWithStreams("10", "Sum", nil), "10", "An unexpected error occurred invoking 'Sum' on the server. HubException: Client sent 0 stream(s), Hub method expects 1."},
		{invocationWithStreams("11", "Plain", []string{"s1"}), "11", "An unexpected error occurred invoking 'Plain' on the server. HubException: Client sent 1 stream(s), Hub method expects 0."},
		{invocationWithStreams("12", "Pair", []string{"s2"}, "L"), "12", "An unexpected error occurred invoking 'Pair' on the server. HubException: Client sent 1 stream(s), Hub method expects 2."},
		{invocationWithStreams("13", "Pair", []string{"s3", "s4"}), "13", "Failed to invoke 'Pair' due to an error on the server."},
	} {
		c.feed(tc.msg)
		if got := c.waitCompletion(tc.id).Error; got != tc.want {
			t.Errorf("%s: %q, want %q", tc.msg, got, tc.want)
		}
	}
	// Items for unknown streams, and for the stream of a method that has
	// returned, are ignored.
	c.feed(item("nobody", 1), complete("nobody", ""), invocationWithStreams("21", "Ignore", []string{"20"}))
	c.waitCompletion("21")
	c.feed(item("20", 1), complete("20", ""))
	if got := c.invoke("Echo", "ok").Result; got != `"ok"` {
		t.Fatalf("after stray items: %s", got)
	}
}

// A method that never reads its upload cannot make the connection hold
// unbounded items: past the budget the reader stops, and the connection
// closes once the method's turn is over.
func TestUploadBudget(t *testing.T) {
	s := &streamer{hold: make(chan struct{})}
	h := newHub(t, s, hub.Config{MaxBufferedBytes: 4096})
	c := dial(t, h, "c1", "")
	c.feed(invocationWithStreams("1", "Stall", []string{"0"}))
	big := strings.Repeat("x", 1000)
	for range 10 {
		c.feed(item("0", big))
	}
	close(s.hold)
	testutil.Eventually(t, "the connection to close", func() bool { return c.tr.Closed() })
	got := c.received()
	if want := `{"type":7,"error":"Connection closed with an error.","allowReconnect":true}`; len(got) == 0 || got[len(got)-1] != want {
		t.Fatalf("got %q, want a last %s", got, want)
	}
}

// serverInvocation waits for the server's Invocation of target.
func serverInvocation(t testing.TB, c *client, target string) frame {
	t.Helper()
	var inv frame
	testutil.Eventually(t, "invocation of "+target, func() bool {
		for _, f := range frames(t, c) {
			if f.Type == 1 && f.Target == target {
				inv = f
				return true
			}
		}
		return false
	})
	return inv
}

func TestClientResults(t *testing.T) {
	s := &streamer{}
	h := newHub(t, s, hub.Config{})
	c := dial(t, h, "c1", "")
	other := dial(t, h, "c2", "")

	id, msg := c.invocation("Ask", "GetAnswer")
	c.feed(msg)
	inv := serverInvocation(t, c, "GetAnswer")
	if inv.InvocationID == "" || !slices.Equal(inv.Arguments, []any{"question"}) {
		t.Fatalf("server invocation %+v", inv)
	}
	// The connection's turn waits; other connections go on.
	if got := other.invoke("Echo", "free").Result; got != `"free"` {
		t.Fatalf("other connection: %s", got)
	}
	c.feed(fmt.Sprintf(`{"type":3,"invocationId":%q,"result":42}`, inv.InvocationID))
	if got := c.waitCompletion(id); got.Result != "42" {
		t.Fatalf("Ask: %+v", got)
	}

	id, msg = c.invocation("Ask", "Missing")
	c.feed(msg)
	inv = serverInvocation(t, c, "Missing")
	c.feed(fmt.Sprintf(`{"type":3,"invocationId":%q,"error":"Client didn't provide a result."}`, inv.InvocationID))
	if got, want := c.waitCompletion(id).Error, "An unexpected error occurred invoking 'Ask' on the server. HubException: Client didn't provide a result."; got != want {
		t.Fatalf("client error: %q, want %q", got, want)
	}

	if got := c.invoke("AskTimeout", 30).Error; got != "An unexpected error occurred invoking 'AskTimeout' on the server." {
		t.Fatalf("timeout: %q", got)
	}
	if got := c.invoke("AskMany").Error; got != "An unexpected error occurred invoking 'AskMany' on the server." {
		t.Fatalf("many: %q", got)
	}
}

func TestClientResultFromOutside(t *testing.T) {
	h := newHub(t, &streamer{}, hub.Config{})
	c := dial(t, h, "c1", "")
	type res struct {
		v   int
		err error
	}
	got := make(chan res, 1)
	go func() {
		v, err := hub.InvokeClient[int](context.Background(), h.Clients().Client("c1"), "Add", 1, 2)
		got <- res{v, err}
	}()
	inv := serverInvocation(t, c, "Add")
	c.feed(fmt.Sprintf(`{"type":3,"invocationId":%q,"result":3}`, inv.InvocationID))
	if r := <-got; r.v != 3 || r.err != nil {
		t.Fatalf("got %d, %v", r.v, r.err)
	}
	if _, err := hub.InvokeClient[int](context.Background(), h.Clients().Client("nobody"), "Add"); !errors.Is(err, hub.ErrDisconnected) || err.Error() != "Connection 'nobody' does not exist." {
		t.Fatalf("unknown connection: %v", err)
	}
	if _, err := hub.InvokeClient[int](context.Background(), h.Clients().All(), "Add"); !errors.Is(err, hub.ErrNotSingleClient) {
		t.Fatalf("all clients: %v", err)
	}
}

func TestClientResultDisconnect(t *testing.T) {
	s := &streamer{asked: make(chan error, 1)}
	h := newHub(t, s, hub.Config{})
	c := dial(t, h, "c1", "")
	_, msg := c.invocation("Ask", "Never")
	c.feed(msg)
	serverInvocation(t, c, "Never")
	c.tr.Close(false)
	select {
	case err := <-s.asked:
		if !errors.Is(err, hub.ErrDisconnected) || err.Error() != "Connection 'c1' disconnected." {
			t.Fatalf("got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wait did not end with the connection")
	}
}
