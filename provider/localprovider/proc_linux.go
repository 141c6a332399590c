package localprovider

import (
	"os"
	"strconv"
	"syscall"
)

// procAttr puts an instance in its own process group, so it and its
// children are killed together, and asks the kernel to kill it when the
// host process dies (PR_SET_PDEATHSIG), so no instance outlives it.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

var pageSize = int64(os.Getpagesize())

// residentBytes is the resident set size of pid, from /proc/PID/statm;
// 0 when unknown.
func residentBytes(pid int) int64 {
	var buf [128]byte
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	n, _ := f.Read(buf[:])
	f.Close()
	b := buf[:n]
	// statm: size resident shared text lib data dt (pages)
	i := 0
	for i < len(b) && b[i] != ' ' {
		i++
	}
	i++
	var pages int64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		pages = pages*10 + int64(b[i]-'0')
	}
	return pages * pageSize
}
