package bench

import (
	"testing"
	"time"
)

func TestHistBuckets(t *testing.T) {
	prev := -1
	for _, us := range []uint64{0, 1, 15, 16, 17, 31, 32, 100, 1000, 123456, 1 << 30, 1 << 50} {
		i := histBucket(us)
		if i < prev {
			t.Fatalf("bucket of %d is %d, below the previous %d", us, i, prev)
		}
		prev = i
		if i < histBuckets-1 && (histLower(i) > us || histLower(i+1) <= us) {
			t.Fatalf("%d µs in bucket %d [%d, %d)", us, i, histLower(i), histLower(i+1))
		}
	}
}

func TestHistQuantile(t *testing.T) {
	var h liveHist
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	var s Hist
	h.addTo(&s)
	if s.Total() != 1000 || s.MaxUS != 1000000 {
		t.Fatalf("total %d max %d", s.Total(), s.MaxUS)
	}
	for q, want := range map[float64]time.Duration{0.5: 500 * time.Millisecond, 0.99: 990 * time.Millisecond} {
		got := s.Quantile(q)
		if got < want || float64(got) > float64(want)*1.13 {
			t.Fatalf("q%.2f = %v, want about %v", q, got, want)
		}
	}
	if s.Quantile(1) != time.Second {
		t.Fatalf("q1 = %v", s.Quantile(1))
	}
}
