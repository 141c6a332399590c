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
	}
	return st
}
