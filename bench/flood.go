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

// floodRun is one flood's state: the flooded server, the flooders' pool,
// the honest client and the RSS samples.
type floodRun struct {
	r       *run
	flooded *Server // r.srv, or the second server of -flood-apart
	p       *Pool   // the flooders
	honest  *Pool   // the honest client, on r.srv
	arg     string  // the invocations' argument

	running   atomic.Bool  // the honest client calls again as each call completes
	honestErr atomic.Value // the honest client's first error
	series    []int64      // the flooded server's RSS, every floodSampleEvery
}

func (r *run) flood() error {
	f := &floodRun{r: r, flooded: r.srv, arg: payloadArg(0, r.s.Payload)}
	if r.s.FloodApart {
		other, err := StartEnv(r.srv.Target, "127.0.0.1:0", r.s.NodeEnv)
		if err != nil {
			return err
		}
		defer other.Stop()
		f.flooded = other
		r.res.FloodApart = true
	}
	if err := f.connect(); err != nil {
		return err
	}
	r.phase.Store("settling")
	time.Sleep(r.s.Settle)
	r.res.RSSIdleB = r.sampleMemoryOf([]*Server{f.flooded}).rss
	if err := f.alone(); err != nil {
		return err
	}
	r.markCPU()
	received0, err := receivedTotal(f.flooded)
	if err != nil {
		return fmt.Errorf("bench: flood needs the server's /metrics: %w", err)
	}
	tick := time.NewTicker(floodSampleEvery)
	defer tick.Stop()
	floodEnd := f.flood(tick)
	last := f.drain(tick, floodEnd)
	r.endCPU()
	r.res.ServerReceived = int64(last - received0)
	r.res.RSSAfterB = r.sampleMemoryOf([]*Server{f.flooded}).rss
	r.res.RSSSeries, r.res.RSSStepS = f.series, floodSampleEvery.Seconds()
	for _, v := range f.series {
		r.res.RSSPeakB = max(r.res.RSSPeakB, v)
	}
	if r.res.RSSIdleB > 0 {
		r.res.RSSPeakRatio = round3(float64(r.res.RSSPeakB) / float64(r.res.RSSIdleB))
	}
	r.res.Sent = r.res.FloodSent
	f.verdict()
	return nil
}

// connect opens the flooders' connections and the honest client's, which
// keeps one Echo in flight while running is set.
func (f *floodRun) connect() error {
	r := f.r
	cfg, err := LoaderConfig{URL: f.flooded.URL(), Protocol: r.s.Protocol.String(), SourceAddrs: r.s.SourceAddrs, Loops: r.s.Loops, Dialers: r.s.Dialers}.poolConfig()
	if err != nil {
		return err
	}
	cfg.PingInterval = r.s.PingInterval
	if f.p, err = NewPool(cfg); err != nil {
		return err
	}
	r.closeLoaders()
	r.loaders = []Loader{PoolLoaderOf(f.p)}
	r.phase.Store("connecting")
	if err := f.p.Connect(context.Background(), r.s.Conns, nil); err != nil {
		return err
	}
	if err := r.openSender(func(c *Conn, _ bool) {
		if f.running.Load() {
			if err := c.InvokeTimed("Echo", f.arg); err != nil {
				f.honestErr.CompareAndSwap(nil, err)
			}
		}
	}); err != nil {
		return err
	}
	f.honest = r.sender
	return nil
}

// alone runs the honest client alone for a while: its pace without the
// flood.
func (f *floodRun) alone() error {
	f.r.phase.Store("honest alone")
	f.running.Store(true)
	if err := f.honest.Conns()[0].InvokeTimed("Echo", f.arg); err != nil {
		return err
	}
	alone := min(f.r.s.Duration, 3*time.Second)
	time.Sleep(alone)
	f.r.res.EchoAlonePerSec = round3(float64(f.honest.Stats(false).Completions) / alone.Seconds())
	f.honest.ResetCounters()
	return nil
}

// sample adds the flooded server's RSS to the series.
func (f *floodRun) sample() {
	if ps, err := f.flooded.Sample(); err == nil {
		f.series = append(f.series, ps.RSSBytes)
	}
}

// flood runs the flood for Duration (less if memory runs low or the
// server dies), sampling the RSS on each tick, stops the honest client
// and returns when the flood ended.
func (f *floodRun) flood(tick *time.Ticker) (end time.Time) {
	r := f.r
	r.phase.Store("flooding")
	frame := f.p.floodFrame(floodBatch, "SendToGroup", floodGroup, "m", f.arg)
	start := time.Now()
	until := start.Add(r.s.Duration)
	stop := make(chan struct{})
	var frames atomic.Int64
	var floodErr atomic.Value
	var wg sync.WaitGroup
	for _, c := range f.p.Conns() {
		wg.Go(func() {
			n, err := c.flood(frame, until, stop)
			frames.Add(n)
			if err != nil {
				floodErr.CompareAndSwap(nil, err)
			}
		})
	}
	f.sample()
	for time.Now().Before(until) {
		<-tick.C
		f.sample()
		if avail, err := MemAvailable(); err == nil && avail < r.s.MemFloor {
			r.res.StoppedBy = "mem_floor"
			break
		}
		if done, _ := f.flooded.Exited(); done {
			r.res.StoppedBy = "server_died"
			break
		}
	}
	close(stop)
	wg.Wait()
	end = time.Now()
	f.running.Store(false) // the honest client's last call completes; then silence
	echoes := f.honest.Stats(true)
	r.res.EchoPerSec = round3(float64(echoes.Completions) / end.Sub(start).Seconds())
	r.res.RTTP50Ms, r.res.RTTP99Ms, r.res.RTTMaxMs = ms(echoes.RTT.Quantile(0.5)), ms(echoes.RTT.Quantile(0.99)), float64(echoes.RTT.MaxUS)/1000
	r.res.RTTHist = histJSON(echoes.RTT)
	if echoes.Completions == 0 {
		r.res.invalidate("the honest client completed no Echo during the flood")
	}
	r.res.FloodSent = frames.Load() * floodBatch
	r.res.DurationS = round3(end.Sub(start).Seconds())
	if v := floodErr.Load(); v != nil {
		r.res.FloodError = fmt.Sprint(v)
	}
	return end
}

// drain samples the RSS while the server works through what it took in,
// until its received count stands still for floodQuiet, and returns that
// count.
func (f *floodRun) drain(tick *time.Ticker, floodEnd time.Time) (received float64) {
	r := f.r
	r.phase.Store("draining")
	last, lastChange := -1.0, time.Now()
	for time.Since(lastChange) < floodQuiet && time.Since(floodEnd) < floodMaxDrain {
		<-tick.C
		f.sample()
		n, err := receivedTotal(f.flooded)
		if err != nil {
			break // the server died: reported by the caller's checks
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
	}
	r.res.DrainS = round3(lastChange.Sub(floodEnd).Seconds())
	if time.Since(floodEnd) >= floodMaxDrain {
		r.res.invalidate("the server was still taking in messages %v after the flood", floodMaxDrain)
	}
	return last
}

// verdict: the honest client must have kept working; the flooders may
// have been cut by the server (that is its right), which is reported.
func (f *floodRun) verdict() {
	r := f.r
	if hs := f.honest.Stats(false); hs.Dropped > 0 {
		r.res.invalidate("the honest connection was dropped (%s)", hs.Error)
	}
	if v := f.honestErr.Load(); v != nil {
		r.res.invalidate("honest Echo: %v", v)
	}
	r.res.Dropped = f.p.Stats(false).Dropped
	if r.res.FloodSent == 0 {
		r.res.invalidate("the flood sent nothing")
	}
}
