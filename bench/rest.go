package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// restSender makes the rest scenario's sends: POST /api/hubs/conformance/:send
// of the server's REST API (Azure SignalR Service's data plane), each with
// the same bearer token, at most window at once.
type restSender struct {
	key    string
	url    string
	token  string
	client *http.Client
	slots  chan struct{}
	wg     sync.WaitGroup

	failures  atomic.Uint64
	calls     atomic.Int64
	callNanos atomic.Int64 // summed durations of the calls
	stopOnce  sync.Once
}

func newRESTSender() *restSender {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return &restSender{key: hex.EncodeToString(b[:])}
}

// env turns the server's REST API on with the sender's access key.
func (s *restSender) env() string { return "ACTORHUB_ACCESS_KEY=" + s.key }

// start readies the sender for the server at addr.
func (s *restSender) start(addr string, window int) error {
	path := "/api/hubs/conformance/:send"
	aud := "http://" + addr + path
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"aud": aud, "exp": time.Now().Add(24 * time.Hour).Unix()}).SignedString([]byte(s.key))
	if err != nil {
		return err
	}
	s.url, s.token = aud+"?api-version=2022-06-01", token
	s.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: window, MaxConnsPerHost: window}, Timeout: 30 * time.Second}
	s.slots = make(chan struct{}, window)
	return nil
}

// send POSTs one send of target with arg; it waits only for a free slot.
func (s *restSender) send(target, arg string) error {
	body, err := json.Marshal(struct {
		Target    string   `json:"target"`
		Arguments []string `json:"arguments"`
	}{target, []string{arg}})
	if err != nil {
		return err
	}
	s.slots <- struct{}{}
	s.wg.Go(func() {
		defer func() { <-s.slots }()
		start := time.Now()
		err := s.post(body)
		s.callNanos.Add(int64(time.Since(start)))
		s.calls.Add(1)
		if err != nil {
			s.failures.Add(1)
		}
	})
	return nil
}

func (s *restSender) post(body []byte) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("bench: REST send: status %d", resp.StatusCode)
	}
	return nil
}

// stop waits for the calls in flight.
func (s *restSender) stop() {
	s.stopOnce.Do(func() {
		s.wg.Wait()
		if s.client != nil {
			s.client.CloseIdleConnections()
		}
	})
}
