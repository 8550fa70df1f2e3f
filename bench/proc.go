package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// ProcSample is a process's resource use read from /proc.
type ProcSample struct {
	CPUSeconds float64 // user + system
	RSSBytes   int64
	// WriteCalls is the process's write-type system calls so far (write,
	// writev; syscw of /proc/PID/io, 0 where it is not readable).
	WriteCalls uint64
}

// ReadProc samples process pid.
func ReadProc(pid int) (ProcSample, error) {
	var s ProcSample
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name may hold spaces; the fields after it are fixed.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return s, fmt.Errorf("bench: /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 22 {
		return s, fmt.Errorf("bench: /proc/%d/stat: %d fields", pid, len(f))
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	rssPages, _ := strconv.ParseInt(f[21], 10, 64)
	s.CPUSeconds = float64(utime+stime) / clockTicks
	s.RSSBytes = rssPages * int64(os.Getpagesize())
	s.WriteCalls = writeCalls(pid)
	return s, nil
}

// writeCalls is syscw of /proc/PID/io, or 0.
func writeCalls(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// SelfCPU is this process's user + system CPU seconds so far.
func SelfCPU() float64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// socketSlabs are the slab caches that grow with TCP connections held
// through epoll.
var socketSlabs = map[string]bool{
	"TCP": true, "sock_inode_cache": true, "filp": true, "dentry": true,
	"eventpoll_epi": true, "eventpoll_pwq": true, "skbuff_head_cache": true,
	"request_sock_TCP": true,
}

// KernelSocketBytes is the kernel memory that TCP sockets hold on this
// machine: the socket slab caches from /proc/slabinfo (often readable by
// root only) plus the TCP buffer pages of /proc/net/sockstat. On loopback
// both ends of every connection are counted.
func KernelSocketBytes() (int64, error) {
	f, err := os.Open("/proc/slabinfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var total int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 4 || !socketSlabs[fs[0]] {
			continue
		}
		active, _ := strconv.ParseInt(fs[1], 10, 64)
		size, _ := strconv.ParseInt(fs[3], 10, 64)
		total += active * size
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if b, err := os.ReadFile("/proc/net/sockstat"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			fs := strings.Fields(line)
			if len(fs) > 0 && fs[0] == "TCP:" {
				for i := 1; i+1 < len(fs); i += 2 {
					if fs[i] == "mem" {
						pages, _ := strconv.ParseInt(fs[i+1], 10, 64)
						total += pages * int64(os.Getpagesize())
					}
				}
			}
		}
	}
	return total, nil
}

// FileLimit is this process's RLIMIT_NOFILE (soft, hard).
func FileLimit() (soft, hard uint64) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 1024, 1024
	}
	return lim.Cur, lim.Max
}

// ReadProcTree samples process pid and its descendants together (a
// PostgreSQL server: the postmaster and its backends, which each lead a
// process group of their own): the CPU of every live one, and of the
// children each has reaped; RSS is their sum (shared memory counted in
// each).
func ReadProcTree(pid int) (ProcSample, error) {
	type proc struct {
		ppid  int
		ticks int64
		rss   int64
	}
	procs := map[int]proc{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return ProcSample{}, err
	}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 22 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		var ticks int64
		for _, k := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
			v, _ := strconv.ParseInt(f[k], 10, 64)
			ticks += v
		}
		rssPages, _ := strconv.ParseInt(f[21], 10, 64)
		procs[p] = proc{ppid, ticks, rssPages * int64(os.Getpagesize())}
	}
	if _, ok := procs[pid]; !ok {
		return ProcSample{}, fmt.Errorf("bench: no process %d", pid)
	}
	var total ProcSample
	for p, pr := range procs {
		for q, hops := p, 0; hops < 64; hops++ { // is pid an ancestor of p (or p itself)?
			if q == pid {
				total.CPUSeconds += float64(pr.ticks) / clockTicks
				total.RSSBytes += pr.rss
				break
			}
			parent, ok := procs[q]
			if !ok || q <= 1 {
				break
			}
			q = parent.ppid
		}
	}
	return total, nil
}
