//go:build !unix

package localprovider

import (
	"os"
	"syscall"
)

func procAttr(int32) *syscall.SysProcAttr { return nil }

// Instances are not isolated beyond their own process on this system.
const isolateGroup int32 = 0

func bestIsolation() int32        { return isolateGroup }
func weakerIsolation(int32) int32 { return isolateGroup }

func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
	}
}

func lockFile(name string) (func(), error) { return func() {}, nil }

func residentBytes(pid int) int64 { return 0 }

func tryLockFile(name string) (func(), bool, error) { return func() {}, true, nil }
