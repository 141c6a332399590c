//go:build !linux

package bundle

import "io/fs"

func statOf(fi fs.FileInfo) fileStat {
	return fileStat{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
}
