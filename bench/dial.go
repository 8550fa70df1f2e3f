package bench

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A connection is set up on a raw non-blocking socket by one dialing
// goroutine, which waits with poll(2) where it would block: the socket is
// never in Go's own poller, never dup'ed, and after the SignalR handshake
// it is handed to a loop's epoll set with nothing left buffered.

var errTimeout = errors.New("bench: connection set-up timed out")

// rawSocket is a connecting socket that the dialing goroutine owns.
type rawSocket struct {
	fd       int
	deadline time.Time
}

// dialRaw opens a non-blocking TCP socket from src to dst.
func dialRaw(src, dst netip.AddrPort, deadline time.Time) (*rawSocket, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("bench: socket: %w", err)
	}
	s := &rawSocket{fd: fd, deadline: deadline}
	fail := func(what string, err error) (*rawSocket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("bench: %s %v -> %v: %w", what, src.Addr(), dst, err)
	}
	// The port is chosen at connect time, per destination, so one source
	// address is not limited to one ephemeral port range in all.
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if src.Addr().IsValid() {
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src.Addr().As4()}); err != nil {
			return fail("bind", err)
		}
	}
	err = unix.Connect(fd, &unix.SockaddrInet4{Addr: dst.Addr().As4(), Port: int(dst.Port())})
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		return fail("connect", err)
	}
	if err := s.wait(unix.POLLOUT); err != nil {
		return fail("connect", err)
	}
	if soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || soErr != 0 {
		if err == nil {
			err = unix.Errno(soErr)
		}
		return fail("connect", err)
	}
	return s, nil
}

// wait blocks until the socket is ready for events or the deadline passes.
func (s *rawSocket) wait(events int16) error {
	for {
		left := time.Until(s.deadline)
		if left <= 0 {
			return errTimeout
		}
		fds := []unix.PollFd{{Fd: int32(s.fd), Events: events}}
		n, err := unix.Poll(fds, int(min(left, time.Second)/time.Millisecond)+1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return err
		}
		if n > 0 {
			return nil
		}
	}
}

// Read implements io.Reader for the set-up phase.
func (s *rawSocket) Read(b []byte) (int, error) {
	for {
		n, err := unix.Read(s.fd, b)
		switch {
		case n > 0:
			return n, nil
		case n == 0 && err == nil:
			return 0, io.EOF
		case errors.Is(err, unix.EAGAIN):
			if err := s.wait(unix.POLLIN); err != nil {
				return 0, err
			}
		case errors.Is(err, unix.EINTR):
		default:
			return 0, err
		}
	}
}

// Write implements io.Writer for the set-up phase.
func (s *rawSocket) Write(b []byte) (int, error) {
	return writeFD(s.fd, b, s.deadline)
}

// writeFD writes all of b to a non-blocking fd, waiting for room with
// poll(2) until the deadline.
func writeFD(fd int, b []byte, deadline time.Time) (int, error) {
	done := 0
	for done < len(b) {
		n, err := unix.Write(fd, b[done:])
		if n > 0 {
			done += n
			continue
		}
		switch {
		case errors.Is(err, unix.EAGAIN):
			s := rawSocket{fd: fd, deadline: deadline}
			if err := s.wait(unix.POLLOUT); err != nil {
				return done, err
			}
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return done, err
		default:
			return done, io.ErrShortWrite
		}
	}
	return done, nil
}

// negotiation is the part of a negotiate reply the client uses.
type negotiation struct {
	ConnectionID    string `json:"connectionId"`
	ConnectionToken string `json:"connectionToken"`
	Error           string `json:"error"`
	Transports      []struct {
		Transport string `json:"transport"`
	} `json:"availableTransports"`
}

// negotiate posts the negotiate request on the socket (keep-alive) and
// returns the token for the WebSocket URL; reuse is false when the server
// closes the HTTP connection after its reply.
func negotiate(s *rawSocket, br *bufio.Reader, host, path string) (token string, reuse bool, err error) {
	req := "POST " + path + "/negotiate?negotiateVersion=1 HTTP/1.1\r\nHost: " + host +
		"\r\nContent-Length: 0\r\nX-Requested-With: XMLHttpRequest\r\nUser-Agent: actorhub-bench\r\n\r\n"
	if _, err := io.WriteString(s, req); err != nil {
		return "", false, fmt.Errorf("bench: negotiate: %w", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", false, fmt.Errorf("bench: negotiate: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if err != nil {
		return "", false, fmt.Errorf("bench: negotiate: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", false, fmt.Errorf("bench: negotiate: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	var n negotiation
	if err := json.Unmarshal(body, &n); err != nil {
		return "", false, fmt.Errorf("bench: negotiate reply: %w", err)
	}
	if n.Error != "" {
		return "", false, fmt.Errorf("bench: negotiate: %s", n.Error)
	}
	ws := false
	for _, t := range n.Transports {
		ws = ws || t.Transport == "WebSockets"
	}
	if !ws {
		return "", false, errors.New("bench: negotiate: the server offers no WebSockets")
	}
	token = n.ConnectionToken
	if token == "" {
		token = n.ConnectionID // negotiate version 0
	}
	return token, !resp.Close, nil
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// upgrade sends the WebSocket upgrade request and checks the 101 reply.
func upgrade(s *rawSocket, br *bufio.Reader, host, path, token string) error {
	var key [16]byte
	_, _ = rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	target := path
	if token != "" {
		target += "?id=" + url.QueryEscape(token)
	}
	req := "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + k + "\r\nSec-WebSocket-Version: 13\r\nUser-Agent: actorhub-bench\r\n\r\n"
	if _, err := io.WriteString(s, req); err != nil {
		return fmt.Errorf("bench: upgrade: %w", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fmt.Errorf("bench: upgrade: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return fmt.Errorf("bench: upgrade: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	sum := sha1.Sum([]byte(k + wsGUID))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) ||
		!strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		return errors.New("bench: upgrade: bad Sec-WebSocket-Accept or Upgrade header")
	}
	return nil
}
