package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// The flood scenario: Conns connections send non-blocking invocations as
// fast as their sockets take them (SendToGroup to a group nobody is in:
// cheap for the server to run, and nothing comes back, so only the
// server's inbound side is loaded), while one honest connection calls
// Echo, one call at a time. The server's RSS is taken before (the
// connections open and idle, after a GC), every floodSampleEvery during
// the flood and the drain that follows, and after (once the server has
// stopped taking in messages, after a GC).

const (
	// floodBatch is how many invocations one flood frame carries.
	floodBatch = 64
	// floodGroup is the group the flood sends to; nobody joins it.
	floodGroup = "flood-nobody"
	// floodSampleEvery is the RSS sampling period.
	floodSampleEvery = 250 * time.Millisecond
	// floodQuiet is how long the server's received count must stand still
	// for the drain to count as over.
	floodQuiet = 2 * time.Second
	// floodMaxDrain bounds the wait for the drain.
	floodMaxDrain = 2 * time.Minute
	// floodFinish bounds the completion of a frame the flood's end cut.
	floodFinish = time.Minute
)

// floodFrame is one masked client frame (text for JSON, binary for
// MessagePack) of n non-blocking invocations of target.
func (p *Pool) floodFrame(n int, target string, args ...string) []byte {
	var payload []byte
	for range n {
		payload = appendInvocation(payload, p.cfg.Protocol, "", target, args...)
	}
	op := ws.OpText
	if p.cfg.Protocol == MessagePack {
		op = ws.OpBinary
	}
	return appendClientFrame(nil, op, payload, maskKey())
}

// flood writes frame over and over until stop is closed or until passes;
// it returns how many frames went out whole. A frame the deadline cuts is
// completed afterwards (within floodFinish), so that the stream stays
// whole and the connection usable.
func (c *Conn) flood(frame []byte, until time.Time, stop <-chan struct{}) (int64, error) {
	var frames int64
	for {
		select {
		case <-stop:
			return frames, nil
		default:
		}
		c.wmu.Lock()
		if c.closed {
			c.wmu.Unlock()
			return frames, ErrClosed
		}
		n, err := writeFD(c.fd, frame, until)
		if err != nil && n > 0 && n < len(frame) {
			_, err2 := writeFD(c.fd, frame[n:], time.Now().Add(floodFinish))
			if err2 == nil {
				n = len(frame)
			}
		}
		c.wmu.Unlock()
		if n == len(frame) {
			frames++
		}
		if err != nil {
			if errors.Is(err, errTimeout) || time.Now().After(until) {
				return frames, nil
			}
			return frames, err
		}
	}
}

// receivedTotal adds up srv's hub messages received, every hub.
func receivedTotal(srv *Server) (float64, error) {
	m, err := srv.Metrics()
	if err != nil {
		return 0, err
	}
	var n float64
	for k, v := range m {
		if strings.HasPrefix(k, "actorhub_messages_received_total") {
			n += v
		}
	}
	return n, nil
}

func (r *run) flood() error {
	flooded := r.srv
	if r.s.FloodApart {
		other, err := StartEnv(r.srv.Target, "127.0.0.1:0", r.s.NodeEnv)
		if err != nil {
			return err
		}
		defer other.Stop()
		flooded = other
		r.res.FloodApart = true
	}
	cfg, err := LoaderConfig{URL: flooded.URL(), Protocol: r.s.Protocol.String(), SourceAddrs: r.s.SourceAddrs, Loops: r.s.Loops, Dialers: r.s.Dialers}.poolConfig()
	if err != nil {
		return err
	}
	cfg.PingInterval = r.s.PingInterval
	p, err := NewPool(cfg)
	if err != nil {
		return err
	}
	r.closeLoaders()
	r.loaders = []Loader{PoolLoaderOf(p)}
	r.phase.Store("connecting")
	if err := p.Connect(context.Background(), r.s.Conns, nil); err != nil {
		return err
	}
	// The honest client: one Echo in flight, again as each completes.
	var running atomic.Bool
	arg := payloadArg(0, r.s.Payload)
	var honestErr atomic.Value
	if err := r.openSender(func(c *Conn, _ bool) {
		if running.Load() {
			if err := c.InvokeTimed("Echo", arg); err != nil {
				honestErr.CompareAndSwap(nil, err)
			}
		}
	}); err != nil {
		return err
	}
	honest := r.sender
	r.phase.Store("settling")
	time.Sleep(r.s.Settle)
	before := r.sampleMemoryOf([]*Server{flooded})
	r.res.RSSIdleB = before.rss

	// The honest client alone for a while: its pace without the flood.
	r.phase.Store("honest alone")
	running.Store(true)
	if err := honest.Conns()[0].InvokeTimed("Echo", arg); err != nil {
		return err
	}
	alone := min(r.s.Duration, 3*time.Second)
	time.Sleep(alone)
	r.res.EchoAlonePerSec = round3(float64(honest.Stats(false).Completions) / alone.Seconds())
	honest.ResetCounters()

	// The flood.
	r.phase.Store("flooding")
	r.markCPU()
	received0, err := receivedTotal(flooded)
	if err != nil {
		return fmt.Errorf("bench: flood needs the server's /metrics: %w", err)
	}
	frame := p.floodFrame(floodBatch, "SendToGroup", floodGroup, "m", arg)
	start := time.Now()
	until := start.Add(r.s.Duration)
	stop := make(chan struct{})
	var stopOnce sync.Once
	halt := func(why string) {
		stopOnce.Do(func() {
			if why != "" {
				r.res.StoppedBy = why
			}
			close(stop)
		})
	}
	var frames atomic.Int64
	var floodErr atomic.Value
	var wg sync.WaitGroup
	for _, c := range p.Conns() {
		wg.Go(func() {
			n, err := c.flood(frame, until, stop)
			frames.Add(n)
			if err != nil {
				floodErr.CompareAndSwap(nil, err)
			}
		})
	}
	// Sample the server's RSS until the flood ends and the server has
	// stopped taking messages in.
	var series []int64
	sample := func() int64 {
		ps, err := flooded.Sample()
		if err != nil {
			return 0
		}
		series = append(series, ps.RSSBytes)
		return ps.RSSBytes
	}
	tick := time.NewTicker(floodSampleEvery)
	defer tick.Stop()
	sample()
	for time.Now().Before(until) {
		<-tick.C
		sample()
		if avail, err := MemAvailable(); err == nil && avail < r.s.MemFloor {
			halt("mem_floor")
			break
		}
		if done, _ := flooded.Exited(); done {
			halt("server_died")
			break
		}
	}
	halt("")
	wg.Wait()
	floodEnd := time.Now()
	running.Store(false) // the honest client's last call completes; then silence
	echoes := honest.Stats(true)
	r.res.EchoPerSec = round3(float64(echoes.Completions) / floodEnd.Sub(start).Seconds())
	r.res.RTTP50Ms, r.res.RTTP99Ms, r.res.RTTMaxMs = ms(echoes.RTT.Quantile(0.5)), ms(echoes.RTT.Quantile(0.99)), float64(echoes.RTT.MaxUS)/1000
	r.res.RTTHist = histJSON(echoes.RTT)
	r.res.FloodSent = frames.Load() * floodBatch
	r.res.DurationS = round3(floodEnd.Sub(start).Seconds())

	// The drain: the server works through what it took in.
	r.phase.Store("draining")
	last, lastChange := -1.0, time.Now()
	for time.Since(lastChange) < floodQuiet && time.Since(floodEnd) < floodMaxDrain {
		<-tick.C
		sample()
		n, err := receivedTotal(flooded)
		if err != nil {
			break // the server died: reported below
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
	}
	r.res.DrainS = round3(lastChange.Sub(floodEnd).Seconds())
	if time.Since(floodEnd) >= floodMaxDrain {
		r.res.invalidate("the server was still taking in messages %v after the flood", floodMaxDrain)
	}
	r.endCPU()
	r.res.ServerReceived = int64(last - received0)
	after := r.sampleMemoryOf([]*Server{flooded})
	r.res.RSSAfterB = after.rss
	r.res.RSSSeries, r.res.RSSStepS = series, floodSampleEvery.Seconds()
	for _, v := range series {
		r.res.RSSPeakB = max(r.res.RSSPeakB, v)
	}
	if r.res.RSSIdleB > 0 {
		r.res.RSSPeakRatio = round3(float64(r.res.RSSPeakB) / float64(r.res.RSSIdleB))
	}
	r.res.Sent = r.res.FloodSent

	// The honest client must have kept working; the flooders may have
	// been cut by the server (that is its right), which is reported.
	hs := honest.Stats(false)
	if hs.Dropped > 0 {
		r.res.invalidate("the honest connection was dropped (%s)", hs.Error)
	}
	if v := honestErr.Load(); v != nil {
		r.res.invalidate("honest Echo: %v", v)
	}
	if echoes.Completions == 0 {
		r.res.invalidate("the honest client completed no Echo during the flood")
	}
	if v := floodErr.Load(); v != nil {
		r.res.FloodError = fmt.Sprint(v)
	}
	st := p.Stats(false)
	r.res.Dropped = st.Dropped
	if r.res.FloodSent == 0 {
		r.res.invalidate("the flood sent nothing")
	}
	return nil
}
