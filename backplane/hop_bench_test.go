package backplane_test

import (
	"testing"
	"time"
)

// BenchmarkHop is one message from Publish on one node to the handler on
// another, through each engine's real server, one at a time: the latency
// the backplane adds to a cross-node send.
func BenchmarkHop(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			s := e.start(b)
			a, z := s.node(b, ""), s.node(b, "")
			got := make(chan struct{}, 1)
			<-z.Subscribe("hop", func(string, []byte) { got <- struct{}{} })
			msg := make([]byte, 200)
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				if err := a.Publish("hop", msg, nil); err != nil {
					b.Fatal(err)
				}
				<-got
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/hop")
		})
	}
}
