package bench

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram buckets: values below 16 µs have a bucket each; above, every
// power of two is split in 8 buckets (at most 12.5% wide).
const (
	histSubBits = 3
	histLinear  = 1 << (histSubBits + 1) // 16
	histBuckets = histLinear + (40-histSubBits-1)*(1<<histSubBits)
)

// histBucket is the bucket of a value in microseconds.
func histBucket(us uint64) int {
	if us < histLinear {
		return int(us)
	}
	e := bits.Len64(us) - 1 // >= 4
	sub := int(us>>(e-histSubBits)) & (1<<histSubBits - 1)
	i := histLinear + (e-histSubBits-1)*(1<<histSubBits) + sub
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// histLower is the smallest value in microseconds of bucket i.
func histLower(i int) uint64 {
	if i < histLinear {
		return uint64(i)
	}
	i -= histLinear
	e := i>>histSubBits + histSubBits + 1
	sub := uint64(i & (1<<histSubBits - 1))
	return (1<<histSubBits | sub) << (e - histSubBits)
}

// liveHist is a latency histogram that one goroutine writes and others
// read; the atomics cost little because writers do not share one.
type liveHist struct {
	counts [histBuckets]atomic.Uint64
	maxUS  atomic.Uint64
}

func (h *liveHist) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	us := uint64(d / time.Microsecond)
	h.counts[histBucket(us)].Add(1)
	for {
		m := h.maxUS.Load()
		if us <= m || h.maxUS.CompareAndSwap(m, us) {
			return
		}
	}
}

func (h *liveHist) reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.maxUS.Store(0)
}

// addTo adds h's counts into s.
func (h *liveHist) addTo(s *Hist) {
	if s.Counts == nil {
		s.Counts = make([]uint64, histBuckets)
	}
	for i := range h.counts {
		s.Counts[i] += h.counts[i].Load()
	}
	s.MaxUS = max(s.MaxUS, h.maxUS.Load())
}

// Hist is a snapshot of a latency histogram in microseconds. Counts[i]
// counts values from BucketLowerUS(i) up to BucketLowerUS(i+1).
type Hist struct {
	Counts []uint64 `json:"counts,omitempty"`
	MaxUS  uint64   `json:"max_us"`
}

// BucketLowerUS is the smallest value of bucket i in microseconds.
func BucketLowerUS(i int) uint64 { return histLower(i) }

// Add adds o into h.
func (h *Hist) Add(o Hist) {
	if len(o.Counts) == 0 {
		h.MaxUS = max(h.MaxUS, o.MaxUS)
		return
	}
	if h.Counts == nil {
		h.Counts = make([]uint64, len(o.Counts))
	}
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
	h.MaxUS = max(h.MaxUS, o.MaxUS)
}

// Total is the number of values.
func (h *Hist) Total() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Quantile is the value below which the fraction q of values fall, as the
// upper edge of its bucket (never above the maximum); 0 when empty.
func (h *Hist) Quantile(q float64) time.Duration {
	total := h.Total()
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			up := histLower(i + 1)
			if i+1 >= len(h.Counts) || up > h.MaxUS {
				up = h.MaxUS
			}
			return time.Duration(up) * time.Microsecond
		}
	}
	return time.Duration(h.MaxUS) * time.Microsecond
}

// Buckets is the histogram in a form a plot can read: the lower edge of
// every non-empty bucket in microseconds and its count.
func (h *Hist) Buckets() (lowerUS, counts []uint64) {
	for i, c := range h.Counts {
		if c > 0 {
			lowerUS = append(lowerUS, histLower(i))
			counts = append(counts, c)
		}
	}
	return lowerUS, counts
}
