package bench_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/actorhub/actorhub/bench"
)

// A pool of 1,000 connections in groups of 100; one of them sends to a
// group, and the pool counts what arrives. (Compiled, not run: it needs a
// server; see TestPoolBroadcastAndEcho for the same against a real one.)
func ExamplePool() {
	p, err := bench.NewPool(bench.Config{URL: "http://127.0.0.1:5000/hubs/conformance", Protocol: bench.MessagePack})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	if err := p.Connect(context.Background(), 1000, func(i int) string { return bench.GroupName(i / 100) }); err != nil {
		log.Fatal(err)
	}
	arg := fmt.Sprintf("%d:hello", time.Now().UnixNano()) // a timestamp first: latency is measured
	if err := p.Conns()[0].InvokeTimed("SendToGroup", bench.GroupName(3), "m", arg); err != nil {
		log.Fatal(err)
	}
	// Every member of the group gets it: poll the count, for a second at most.
	for deadline := time.Now().Add(time.Second); p.Stats(false).Delivered < 100 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	st := p.Stats(true)
	fmt.Println(st.Delivered, st.Latency.Quantile(0.99), st.RTT.Quantile(0.5))
}

// Run starts a target process, runs a scenario against it and stops it.
func ExampleRun() {
	t, err := bench.BuildTarget(context.Background(), "actorhub", ".", "/tmp")
	if err != nil {
		log.Fatal(err)
	}
	res, err := bench.Run(context.Background(), t, bench.Settings{Scenario: "broadcast", Conns: 1000, Duration: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.DeliveriesPerSec, res.LatP99Ms, res.Lost, res.Valid)
}
