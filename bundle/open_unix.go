//go:build unix

package bundle

import (
	"os"
	"syscall"
)

// openFlags open a scanned file without following a symlink put in its
// place, and without blocking on a fifo put in its place (the fstat check
// of openScanned then refuses both).
const openFlags = os.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK

func isSymlinkErr(err error) bool {
	pe, ok := err.(*os.PathError)
	return ok && (pe.Err == syscall.ELOOP || pe.Err == syscall.EMLINK)
}
