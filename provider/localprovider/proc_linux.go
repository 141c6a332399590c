package localprovider

import (
	"os"
	"strconv"
	"syscall"
)

// Isolation levels of an instance's processes (see the package doc).
const (
	isolateGroup   int32 = iota // own process group only
	isolatePID                  // own PID namespace
	isolateUserPID              // own user and PID namespaces (unprivileged)
)

// bestIsolation is the level tried first: a PID namespace needs
// CAP_SYS_ADMIN, which root usually has; others need a user namespace
// for it.
func bestIsolation() int32 {
	if os.Geteuid() == 0 {
		return isolatePID
	}
	return isolateUserPID
}

// weakerIsolation is the level to fall back to when starting a process
// at level failed.
func weakerIsolation(level int32) int32 {
	if level == isolatePID {
		return isolateUserPID
	}
	return isolateGroup
}

// procAttr puts an instance in its own process group, killed as a whole,
// asks the kernel to kill it when the host process dies
// (PR_SET_PDEATHSIG), and at the PID namespace levels makes it the init
// process of a namespace of its own: when it exits, the kernel kills
// every process it started, including those that left its group with
// setsid. In a user namespace the instance keeps the host's uid and gid.
func procAttr(level int32) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	switch level {
	case isolatePID:
		a.Cloneflags = syscall.CLONE_NEWPID
	case isolateUserPID:
		a.Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWUSER
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: os.Geteuid(), HostID: os.Geteuid(), Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getegid(), HostID: os.Getegid(), Size: 1}}
		a.GidMappingsEnableSetgroups = false
	}
	return a
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
