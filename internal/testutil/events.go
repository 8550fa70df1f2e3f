package testutil

import (
	"slices"
	"sync"
)

// Events is a log of what happened, in order, safe for concurrent use: a
// test's hub or handler records its calls in one, and the test reads it.
// The zero value is ready to use.
type Events struct {
	mu   sync.Mutex
	list []string // guarded by mu
}

// Add records e.
func (l *Events) Add(e string) {
	l.mu.Lock()
	l.list = append(l.list, e)
	l.mu.Unlock()
}

// All returns what was recorded so far.
func (l *Events) All() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.list)
}

// Has reports whether e was recorded.
func (l *Events) Has(e string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.list, e)
}

// Saw is Has as a condition for Eventually.
func (l *Events) Saw(e string) func() bool { return func() bool { return l.Has(e) } }

// Len is the number of events recorded.
func (l *Events) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.list)
}
