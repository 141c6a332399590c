package bundle

import (
	"io/fs"
	"syscall"
)

func statOf(fi fs.FileInfo) fileStat {
	st := fileStat{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
	if s, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.Ino = s.Ino
		st.CtimeNs = s.Ctim.Nano()
		st.dev = s.Dev
	}
	return st
}

// sameFile reports whether fi, the fstat of an opened file, is the file
// scanned as st: same device and inode.
func sameFile(fi fs.FileInfo, st fileStat) bool {
	s, ok := fi.Sys().(*syscall.Stat_t)
	return ok && s.Dev == st.dev && s.Ino == st.Ino
}
