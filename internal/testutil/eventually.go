package testutil

import (
	"testing"
	"time"
)

// Wait is how long Eventually polls before it fails the test: long enough
// for a loaded machine, short enough that a hang fails fast.
const Wait = 5 * time.Second

// Eventually polls cond every millisecond until it holds, and fails the test
// naming what it waited for when Wait passes first.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	EventuallyWithin(t, Wait, what, cond)
}

// EventuallyWithin is Eventually with its own time limit.
func EventuallyWithin(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(within, cond) {
		t.Fatalf("timed out after %v waiting for %s", within, what)
	}
}

// Poll polls cond every millisecond until it holds (true) or within passes
// (false). For code that cannot fail a test: a helper process, a goroutine.
func Poll(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}
