//go:build !linux

package bundle

import "io/fs"

func statOf(fi fs.FileInfo) fileStat {
	return fileStat{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
}

// sameFile cannot compare device and inode here: the size and type
// checks of openScanned are all there is.
func sameFile(fs.FileInfo, fileStat) bool { return true }
