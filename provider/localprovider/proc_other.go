//go:build !unix

package localprovider

import (
	"os"
	"syscall"
)

func procAttr() *syscall.SysProcAttr { return nil }

func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
	}
}

func lockFile(name string) (func(), error) { return func() {}, nil }

func residentBytes(pid int) int64 { return 0 }
