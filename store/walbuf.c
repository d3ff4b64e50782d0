// walbuf: an SQLite VFS that writes a transaction's write-ahead-log frames with one write call.
//
// SQLite writes each WAL frame with two calls, its 24-byte header and then its page, so a commit
// of n pages costs 2n system calls. This VFS sits in front of the default one ("unix") and keeps
// the writes that continue each other in a buffer per WAL file. The buffer goes to the file
// (one call) when the commit frame's page is in it, when it is full, before any other operation
// on that WAL file (read, sync, truncate, size, close, a write elsewhere), and before any
// operation on the shared-memory locks or barrier of any database in the process. SQLite
// publishes a commit to other connections through the shared-memory index after a barrier, and
// hands the write lock over through the shared-memory locks, so every frame is in the file
// before another connection can read it or write at its offset: the file's content, as any
// reader or writer sees it, is what it would be without the buffer. On disk nothing differs:
// durability comes from the syncs, which flush first.
//
// It also reads a WAL file through one read-only shared mapping per file and process (wbMap,
// wbRead) instead of one pread per page.
//
// The declarations below are SQLite's public VFS interface (https://sqlite.org/c3ref/vfs.html,
// https://sqlite.org/c3ref/io_methods.html); the library itself is mattn/go-sqlite3's.

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef long long sqlite3_int64;
typedef struct sqlite3_file sqlite3_file;
typedef struct sqlite3_io_methods sqlite3_io_methods;
typedef struct sqlite3_vfs sqlite3_vfs;
typedef void (*sqlite3_syscall_ptr)(void);

struct sqlite3_file {
	const sqlite3_io_methods *pMethods;
};

struct sqlite3_io_methods {
	int iVersion;
	int (*xClose)(sqlite3_file *);
	int (*xRead)(sqlite3_file *, void *, int, sqlite3_int64);
	int (*xWrite)(sqlite3_file *, const void *, int, sqlite3_int64);
	int (*xTruncate)(sqlite3_file *, sqlite3_int64);
	int (*xSync)(sqlite3_file *, int);
	int (*xFileSize)(sqlite3_file *, sqlite3_int64 *);
	int (*xLock)(sqlite3_file *, int);
	int (*xUnlock)(sqlite3_file *, int);
	int (*xCheckReservedLock)(sqlite3_file *, int *);
	int (*xFileControl)(sqlite3_file *, int, void *);
	int (*xSectorSize)(sqlite3_file *);
	int (*xDeviceCharacteristics)(sqlite3_file *);
	int (*xShmMap)(sqlite3_file *, int, int, int, void volatile **);
	int (*xShmLock)(sqlite3_file *, int, int, int);
	void (*xShmBarrier)(sqlite3_file *);
	int (*xShmUnmap)(sqlite3_file *, int);
	int (*xFetch)(sqlite3_file *, sqlite3_int64, int, void **);
	int (*xUnfetch)(sqlite3_file *, sqlite3_int64, void *);
};

struct sqlite3_vfs {
	int iVersion;
	int szOsFile;
	int mxPathname;
	sqlite3_vfs *pNext;
	const char *zName;
	void *pAppData;
	int (*xOpen)(sqlite3_vfs *, const char *, sqlite3_file *, int, int *);
	int (*xDelete)(sqlite3_vfs *, const char *, int);
	int (*xAccess)(sqlite3_vfs *, const char *, int, int *);
	int (*xFullPathname)(sqlite3_vfs *, const char *, int, char *);
	void *(*xDlOpen)(sqlite3_vfs *, const char *);
	void (*xDlError)(sqlite3_vfs *, int, char *);
	void (*(*xDlSym)(sqlite3_vfs *, void *, const char *))(void);
	void (*xDlClose)(sqlite3_vfs *, void *);
	int (*xRandomness)(sqlite3_vfs *, int, char *);
	int (*xSleep)(sqlite3_vfs *, int);
	int (*xCurrentTime)(sqlite3_vfs *, double *);
	int (*xGetLastError)(sqlite3_vfs *, int, char *);
	int (*xCurrentTimeInt64)(sqlite3_vfs *, sqlite3_int64 *);
	int (*xSetSystemCall)(sqlite3_vfs *, const char *, sqlite3_syscall_ptr);
	sqlite3_syscall_ptr (*xGetSystemCall)(sqlite3_vfs *, const char *);
	const char *(*xNextSystemCall)(sqlite3_vfs *, const char *);
};

extern sqlite3_vfs *sqlite3_vfs_find(const char *);
extern int sqlite3_vfs_register(sqlite3_vfs *, int);

#define WB_OK 0
#define WB_ERROR 1
#define WB_NOMEM 7
#define WB_OPEN_WAL 0x00080000
#define WB_FRAME_HEADER 24
// The unix VFS writes at most 128 KiB - 1 bytes per call (seekAndWriteFd); a buffer holds 30
// frames of 4 KiB pages.
#define WB_BUFFER (124 * 1024)
// The part of a WAL file mapped for reading; reads beyond it use pread.
#define WB_MAP ((size_t)32 << 20)

// wbMap is one WAL file's read-only mapping, shared by the process's connections to it, so
// that a page of the file is mapped once, however many connections read it. Its first WB_MAP
// bytes are mapped: the resident part stays within that (the pages are the page cache's,
// counted in the process's RSS while mapped); reads beyond it use pread.
typedef struct wbMap wbMap;
struct wbMap {
	dev_t dev;
	ino_t ino;
	int fd;
	int refs;
	const unsigned char *addr;
	wbMap *next;
};

typedef struct wbFile wbFile;
struct wbFile {
	sqlite3_file base;
	sqlite3_file *real;  // the underlying VFS's file, allocated right after this struct
	int wal;             // a write-ahead log: writes are buffered
	wbFile *prev, *next; // the open WAL files, for wbFlushAll
	unsigned char *buf;  // pending bytes, buf[0:len] at file offset off
	int len;
	sqlite3_int64 off;
	int commitFrame; // the last write was a commit frame's header: flush after its page
	int err;         // a flush on another file's behalf failed: reported by the next call
	// The WAL file's mapping for reading (NULL: read with pread), and the file's size when
	// last looked at: mapped reads end before it.
	wbMap *map;
	sqlite3_int64 mapSize;
};

static sqlite3_vfs wbVfs;
static sqlite3_vfs *wbReal;
// The shim's method tables, one for each kind of file the underlying VFS made (the unix VFS
// has one per locking style), each of its version of the interface.
#define WB_KINDS 8
static const sqlite3_io_methods *wbKindReal[WB_KINDS];
static sqlite3_io_methods wbKind[WB_KINDS];
static pthread_mutex_t wbMu = PTHREAD_MUTEX_INITIALIZER;
static wbFile *wbWALs;
// WAL files with bytes in their buffer. Changed under wbMu; read without it by wbFlushAll, which
// a connection calls on its own thread before it releases a lock, so it sees its own bytes.
static int wbPending;

// Counters for tests: writes asked for, writes made to WAL files, reads served by a mapping.
static sqlite3_int64 wbAsked, wbMade, wbMapped;

#define REAL(f) (((wbFile *)(f))->real)

static void wbUnmapWAL(wbFile *f);

static int wbFlushLocked(wbFile *f) {
	if (f->len == 0) {
		return WB_OK;
	}
	int rc = f->real->pMethods->xWrite(f->real, f->buf, f->len, f->off);
	f->len = 0;
	__atomic_sub_fetch(&wbPending, 1, __ATOMIC_RELEASE);
	wbMade++;
	return rc;
}

static int wbFlush(wbFile *f) {
	if (!f->wal) {
		return WB_OK;
	}
	pthread_mutex_lock(&wbMu);
	int rc = wbFlushLocked(f);
	if (rc == WB_OK && f->err != WB_OK) {
		rc = f->err;
	}
	f->err = WB_OK;
	pthread_mutex_unlock(&wbMu);
	return rc;
}

// wbFlushAll writes every WAL file's pending bytes: before any connection takes or releases a
// shared-memory lock or passes a barrier.
static void wbFlushAll(void) {
	if (__atomic_load_n(&wbPending, __ATOMIC_ACQUIRE) == 0) {
		return;
	}
	pthread_mutex_lock(&wbMu);
	for (wbFile *f = wbWALs; f != NULL; f = f->next) {
		int rc = wbFlushLocked(f);
		if (rc != WB_OK && f->err == WB_OK) {
			f->err = rc;
		}
	}
	pthread_mutex_unlock(&wbMu);
}

static int wbWrite(sqlite3_file *file, const void *p, int n, sqlite3_int64 off) {
	wbFile *f = (wbFile *)file;
	if (!f->wal) {
		return f->real->pMethods->xWrite(f->real, p, n, off);
	}
	int rc = WB_OK;
	pthread_mutex_lock(&wbMu);
	wbAsked++;
	if (f->err != WB_OK) {
		rc = f->err;
		f->err = WB_OK;
		goto out;
	}
	if (f->len > 0 && (off != f->off + f->len || f->len + n > WB_BUFFER)) {
		if ((rc = wbFlushLocked(f)) != WB_OK) {
			goto out;
		}
	}
	if (n > WB_BUFFER) {
		wbMade++;
		rc = f->real->pMethods->xWrite(f->real, p, n, off);
		goto out;
	}
	if (f->buf == NULL && (f->buf = malloc(WB_BUFFER)) == NULL) {
		wbMade++;
		rc = f->real->pMethods->xWrite(f->real, p, n, off);
		goto out;
	}
	if (f->len == 0) {
		f->off = off;
		__atomic_add_fetch(&wbPending, 1, __ATOMIC_RELEASE);
	}
	memcpy(f->buf + f->len, p, n);
	f->len += n;
	if (n == WB_FRAME_HEADER) {
		// A frame header: bytes 4-7 are the database size after a commit, 0 in other frames.
		const unsigned char *h = p;
		f->commitFrame = (h[4] | h[5] | h[6] | h[7]) != 0;
	} else if (f->commitFrame) {
		// The commit frame is complete: write the transaction now, so that a failure is the
		// commit's error.
		f->commitFrame = 0;
		rc = wbFlushLocked(f);
	}
out:
	pthread_mutex_unlock(&wbMu);
	return rc;
}

static int wbClose(sqlite3_file *file) {
	wbFile *f = (wbFile *)file;
	int rc = WB_OK;
	if (f->wal) {
		pthread_mutex_lock(&wbMu);
		rc = wbFlushLocked(f);
		if (f->prev) {
			f->prev->next = f->next;
		} else {
			wbWALs = f->next;
		}
		if (f->next) {
			f->next->prev = f->prev;
		}
		wbUnmapWAL(f);
		pthread_mutex_unlock(&wbMu);
		free(f->buf);
		f->buf = NULL;
	}
	int rc2 = f->real->pMethods->xClose(f->real);
	return rc != WB_OK ? rc : rc2;
}

// wbRead reads a WAL file from its mapping when the range is inside the file: a page read from
// the WAL is a copy rather than a system call. SQLite reads only frames that are in the file and
// that a read lock keeps from being truncated, the same condition its own mapping of the
// database file relies on; a read past the size last seen looks again (fstat) and otherwise
// goes to pread, which reports a short read as SQLite expects.
static int wbRead(sqlite3_file *file, void *p, int n, sqlite3_int64 off) {
	wbFile *f = (wbFile *)file;
	int rc = wbFlush(f);
	if (rc != WB_OK) {
		return rc;
	}
	if (f->map != NULL && off >= 0 && off + n <= (sqlite3_int64)WB_MAP) {
		if (off + n > f->mapSize) {
			struct stat st;
			if (fstat(f->map->fd, &st) == 0) {
				f->mapSize = st.st_size;
			}
		}
		if (off + n <= f->mapSize) {
			memcpy(p, f->map->addr + off, n);
			__atomic_add_fetch(&wbMapped, 1, __ATOMIC_RELAXED);
			return WB_OK;
		}
	}
	return f->real->pMethods->xRead(f->real, p, n, off);
}

static int wbTruncate(sqlite3_file *file, sqlite3_int64 size) {
	wbFile *f = (wbFile *)file;
	int rc = wbFlush(f);
	if (rc == WB_OK && size < f->mapSize) {
		f->mapSize = size;
	}
	return rc != WB_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

// WB_FLUSH_THEN writes f's collected frames, then calls the underlying file's method.
#define WB_FLUSH_THEN(f, call)                                                              \
	do {                                                                                    \
		int rc_ = wbFlush((wbFile *)(f));                                               \
		return rc_ != WB_OK ? rc_ : REAL(f)->pMethods->call;                            \
	} while (0)

static int wbSync(sqlite3_file *f, int flags) { WB_FLUSH_THEN(f, xSync(REAL(f), flags)); }
static int wbFileSize(sqlite3_file *f, sqlite3_int64 *size) { WB_FLUSH_THEN(f, xFileSize(REAL(f), size)); }
static int wbLock(sqlite3_file *f, int level) { WB_FLUSH_THEN(f, xLock(REAL(f), level)); }
static int wbUnlock(sqlite3_file *f, int level) { WB_FLUSH_THEN(f, xUnlock(REAL(f), level)); }
static int wbCheckReservedLock(sqlite3_file *f, int *out) { WB_FLUSH_THEN(f, xCheckReservedLock(REAL(f), out)); }
static int wbFileControl(sqlite3_file *f, int op, void *arg) { WB_FLUSH_THEN(f, xFileControl(REAL(f), op, arg)); }

static int wbSectorSize(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }

static int wbDeviceCharacteristics(sqlite3_file *f) {
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int wbShmMap(sqlite3_file *f, int pg, int size, int extend, void volatile **pp) {
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, size, extend, pp);
}

static int wbShmLock(sqlite3_file *f, int offset, int n, int flags) {
	wbFlushAll();
	return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void wbShmBarrier(sqlite3_file *f) {
	wbFlushAll();
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int wbShmUnmap(sqlite3_file *f, int deleteFlag) {
	wbFlushAll();
	return REAL(f)->pMethods->xShmUnmap(REAL(f), deleteFlag);
}

static int wbFetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp) {
	WB_FLUSH_THEN(f, xFetch(REAL(f), off, n, pp));
}

static int wbUnfetch(sqlite3_file *f, sqlite3_int64 off, void *p) {
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

// wbMethods fills m with the shim's methods for the underlying file's version of the interface.
static void wbMethods(sqlite3_io_methods *m, const sqlite3_io_methods *real) {
	memset(m, 0, sizeof(*m));
	m->iVersion = real->iVersion;
	m->xClose = wbClose;
	m->xRead = wbRead;
	m->xWrite = wbWrite;
	m->xTruncate = wbTruncate;
	m->xSync = wbSync;
	m->xFileSize = wbFileSize;
	m->xLock = wbLock;
	m->xUnlock = wbUnlock;
	m->xCheckReservedLock = wbCheckReservedLock;
	m->xFileControl = wbFileControl;
	m->xSectorSize = wbSectorSize;
	m->xDeviceCharacteristics = wbDeviceCharacteristics;
	if (real->iVersion >= 2) {
		m->xShmMap = wbShmMap;
		m->xShmLock = wbShmLock;
		m->xShmBarrier = wbShmBarrier;
		m->xShmUnmap = wbShmUnmap;
	}
	if (real->iVersion >= 3) {
		m->xFetch = wbFetch;
		m->xUnfetch = wbUnfetch;
	}
}

static wbMap *wbMaps; // guarded by wbMu

// wbMapWAL gives f the mapping of the WAL file at name, made through a descriptor of its own
// (SQLite's is not reachable through the interface) or shared with the connections that have
// the same file open. Without a mapping, reads use pread. The caller holds wbMu.
static void wbMapWAL(wbFile *f, const char *name) {
	if (name == NULL) {
		return;
	}
	int fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return;
	}
	for (wbMap *m = wbMaps; m != NULL; m = m->next) {
		if (m->dev == st.st_dev && m->ino == st.st_ino) {
			close(fd);
			m->refs++;
			f->map = m;
			return;
		}
	}
	wbMap *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		close(fd);
		return;
	}
	void *addr = mmap(NULL, WB_MAP, PROT_READ, MAP_SHARED, fd, 0);
	if (addr == MAP_FAILED) {
		free(m);
		close(fd);
		return;
	}
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	m->fd = fd;
	m->refs = 1;
	m->addr = addr;
	m->next = wbMaps;
	wbMaps = m;
	f->map = m;
}

// wbUnmapWAL drops f's share of its mapping; the last one unmaps. The caller holds wbMu.
static void wbUnmapWAL(wbFile *f) {
	wbMap *m = f->map;
	f->map = NULL;
	if (m == NULL || --m->refs > 0) {
		return;
	}
	for (wbMap **p = &wbMaps; *p != NULL; p = &(*p)->next) {
		if (*p == m) {
			*p = m->next;
			break;
		}
	}
	munmap((void *)m->addr, WB_MAP);
	close(m->fd);
	free(m);
}

static int wbOpen(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *outFlags) {
	wbFile *f = (wbFile *)file;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	int rc = wbReal->xOpen(wbReal, name, f->real, flags, outFlags);
	if (rc != WB_OK || f->real->pMethods == NULL) {
		if (rc != WB_OK && f->real->pMethods != NULL) {
			f->real->pMethods->xClose(f->real);
		}
		return rc != WB_OK ? rc : WB_ERROR; // base.pMethods stays NULL: SQLite calls no xClose
	}
	pthread_mutex_lock(&wbMu);
	const sqlite3_io_methods *methods = NULL;
	for (int i = 0; i < WB_KINDS && methods == NULL; i++) {
		if (wbKindReal[i] == NULL) {
			wbKindReal[i] = f->real->pMethods;
			wbMethods(&wbKind[i], f->real->pMethods);
		}
		if (wbKindReal[i] == f->real->pMethods) {
			methods = &wbKind[i];
		}
	}
	if (methods == NULL) {
		pthread_mutex_unlock(&wbMu);
		f->real->pMethods->xClose(f->real);
		return WB_ERROR;
	}
	f->base.pMethods = methods;
	if (flags & WB_OPEN_WAL) {
		wbMapWAL(f, name);
		f->wal = 1;
		f->next = wbWALs;
		if (wbWALs) {
			wbWALs->prev = f;
		}
		wbWALs = f;
	}
	pthread_mutex_unlock(&wbMu);
	return WB_OK;
}

static int wbDelete(sqlite3_vfs *v, const char *name, int syncDir) {
	return wbReal->xDelete(wbReal, name, syncDir);
}
static int wbAccess(sqlite3_vfs *v, const char *name, int flags, int *out) {
	return wbReal->xAccess(wbReal, name, flags, out);
}
static int wbFullPathname(sqlite3_vfs *v, const char *name, int n, char *out) {
	return wbReal->xFullPathname(wbReal, name, n, out);
}
static void *wbDlOpen(sqlite3_vfs *v, const char *name) { return wbReal->xDlOpen(wbReal, name); }
static void wbDlError(sqlite3_vfs *v, int n, char *msg) { wbReal->xDlError(wbReal, n, msg); }
static void (*wbDlSym(sqlite3_vfs *v, void *h, const char *sym))(void) {
	return wbReal->xDlSym(wbReal, h, sym);
}
static void wbDlClose(sqlite3_vfs *v, void *h) { wbReal->xDlClose(wbReal, h); }
static int wbRandomness(sqlite3_vfs *v, int n, char *out) { return wbReal->xRandomness(wbReal, n, out); }
static int wbSleep(sqlite3_vfs *v, int us) { return wbReal->xSleep(wbReal, us); }
static int wbCurrentTime(sqlite3_vfs *v, double *t) { return wbReal->xCurrentTime(wbReal, t); }
static int wbGetLastError(sqlite3_vfs *v, int n, char *msg) {
	return wbReal->xGetLastError(wbReal, n, msg);
}
static int wbCurrentTimeInt64(sqlite3_vfs *v, sqlite3_int64 *t) {
	return wbReal->xCurrentTimeInt64(wbReal, t);
}

// amtsbote_walbuf_register makes walbuf SQLite's default VFS, in front of the default it
// finds. It returns 0, or SQLite's error code.
int amtsbote_walbuf_register(void) {
	if (wbReal != NULL) {
		return WB_OK;
	}
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);
	if (real == NULL) {
		return WB_ERROR;
	}
	wbReal = real;
	memset(&wbVfs, 0, sizeof(wbVfs));
	wbVfs.iVersion = real->iVersion >= 2 ? 2 : 1;
	wbVfs.szOsFile = (int)sizeof(wbFile) + real->szOsFile;
	wbVfs.mxPathname = real->mxPathname;
	wbVfs.zName = "amtsbote-walbuf";
	wbVfs.xOpen = wbOpen;
	wbVfs.xDelete = wbDelete;
	wbVfs.xAccess = wbAccess;
	wbVfs.xFullPathname = wbFullPathname;
	wbVfs.xDlOpen = wbDlOpen;
	wbVfs.xDlError = wbDlError;
	wbVfs.xDlSym = wbDlSym;
	wbVfs.xDlClose = wbDlClose;
	wbVfs.xRandomness = wbRandomness;
	wbVfs.xSleep = wbSleep;
	wbVfs.xCurrentTime = wbCurrentTime;
	wbVfs.xGetLastError = wbGetLastError;
	if (real->iVersion >= 2 && real->xCurrentTimeInt64 != NULL) {
		wbVfs.xCurrentTimeInt64 = wbCurrentTimeInt64;
	}
	return sqlite3_vfs_register(&wbVfs, 1);
}

// amtsbote_walbuf_counts reports the WAL writes SQLite asked for, the ones made, and the WAL
// reads served by a mapping (tests).
void amtsbote_walbuf_counts(sqlite3_int64 *asked, sqlite3_int64 *made, sqlite3_int64 *mapped) {
	pthread_mutex_lock(&wbMu);
	*asked = wbAsked;
	*made = wbMade;
	pthread_mutex_unlock(&wbMu);
	*mapped = __atomic_load_n(&wbMapped, __ATOMIC_RELAXED);
}
