//go:build unix && !linux

package localprovider

import "syscall"

// procAttr puts an instance in its own process group, so it and its
// children are killed together. Without PR_SET_PDEATHSIG, an instance
// speaking the Runtime API still exits when the host dies, as its next
// poll fails.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// residentBytes is not measured on this system.
func residentBytes(pid int) int64 { return 0 }
