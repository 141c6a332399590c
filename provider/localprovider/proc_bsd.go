//go:build unix && !linux

package localprovider

import "syscall"

// procAttr puts an instance in its own process group, so it and its
// children are killed together. Without PR_SET_PDEATHSIG, an instance
// speaking the Runtime API still exits when the host dies, as its next
// poll fails.
func procAttr(int32) *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// Only process groups isolate instances on this system.
const isolateGroup int32 = 0

func bestIsolation() int32        { return isolateGroup }
func weakerIsolation(int32) int32 { return isolateGroup }

// residentBytes is not measured on this system.
func residentBytes(pid int) int64 { return 0 }
