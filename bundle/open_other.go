//go:build !unix

package bundle

import "os"

// openFlags: no O_NOFOLLOW or O_NONBLOCK here; the fstat check of
// openScanned still refuses a file that is no longer a regular file of
// the scanned size.
const openFlags = os.O_RDONLY

func isSymlinkErr(error) bool { return false }
