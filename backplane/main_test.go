package backplane_test

import (
	"testing"

	"github.com/actorhub/actorhub/internal/testutil"
)

// TestMain fails the package's tests when a goroutine outlives them: every
// goroutine has an owner that waits for it.
func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }
