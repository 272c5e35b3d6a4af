package ingest

import (
	"fmt"
	"io/fs"
	"syscall"
)

// fileID names the file behind info on its device, with its change time:
// a file replaced (a rename gives another inode) or written to with its
// modification time put back (cp -p, rsync -t, touch -d: the kernel sets
// the change time, no tool can) has another.
func fileID(info fs.FileInfo) string {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%d:%d:%d", st.Dev, st.Ino, st.Ctim.Nano())
}
