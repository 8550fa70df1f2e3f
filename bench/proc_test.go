package bench

import (
	"os"
	"testing"
)

// TestReadProcCountsWrites: a process's write system calls show in
// ReadProc (where /proc/PID/io is readable).
func TestReadProcCountsWrites(t *testing.T) {
	if _, err := os.ReadFile("/proc/self/io"); err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	before, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(t.TempDir(), "w")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 10 {
		if _, err := f.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	after, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got := after.WriteCalls - before.WriteCalls; got < 10 {
		t.Errorf("10 writes counted as %d (%d -> %d)", got, before.WriteCalls, after.WriteCalls)
	}
}

func TestEnvProcs(t *testing.T) {
	for _, c := range []struct {
		env  []string
		want int
	}{
		{nil, 0},
		{[]string{"GOGC=50"}, 0},
		{[]string{"GOMAXPROCS=1"}, 1},
		{[]string{"GOMAXPROCS=1", "GOGC=50", "GOMAXPROCS=2"}, 2},
	} {
		if got := envProcs(c.env); got != c.want {
			t.Errorf("envProcs(%q) = %d, want %d", c.env, got, c.want)
		}
	}
}
