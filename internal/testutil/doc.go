// Package testutil holds what the tests of several packages share: polling
// for an asynchronous condition (Eventually), an in-memory transport for a
// connection (Transport), and the goroutine leak check every package's
// TestMain runs (VerifyNoLeaks).
//
// It imports no package of this module, so the tests of any package,
// internal tests included, can use it.
package testutil
