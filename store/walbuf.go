package store

/*
int amtsbote_walbuf_register(void);
void amtsbote_walbuf_counts(long long *asked, long long *made, long long *mapped);
*/
import "C"

import "fmt"

// SQLite connections in this process use walbuf (walbuf.c), a VFS in front of SQLite's own that
// writes the frames of a commit to the write-ahead log with one system call instead of two per
// page: 97 write calls per demo submission were the log's, and a system call costs about as
// much CPU as SQLite's work on the page it writes. It also reads the WAL through a mapping of
// the file instead of a pread call per page.
func init() {
	if rc := C.amtsbote_walbuf_register(); rc != 0 {
		panic(fmt.Sprintf("store: register the SQLite VFS walbuf: SQLite error %d", int(rc)))
	}
}

// walbufCounts returns the writes to write-ahead logs SQLite asked for, the ones made, and the
// reads of write-ahead logs served by a mapping.
func walbufCounts() (asked, made, mapped int64) {
	var a, m, r C.longlong
	C.amtsbote_walbuf_counts(&a, &m, &r)
	return int64(a), int64(m), int64(r)
}
