package pipeline

import (
	"slices"
	"sync"
	"time"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/store"
)

// handoff keeps, for a few seconds, what the process stage wrote for each delivery it queued:
// the delivery usually follows within milliseconds and then builds its package from memory
// instead of reading the submission, the message, the attachment list and the generated files
// back from the store. Only what the store holds unchanged is kept (a message and its files are
// never rewritten, only purged, and a purge needs a finished submission that has waited out its
// retention), and only the queue message that carries the delivery finds its entry: one whose
// transaction rolled back is never read and simply expires, and a retry, a replay or another
// instance reads the store. An entry is taken once.
type handoff struct {
	mu      sync.Mutex
	entries map[string]*handoffEntry // by queue message UUID
	fifo    []*handoffEntry          // oldest first
	bytes   int64
}

// handoffEntry is one queued delivery's package as the process stage made it.
type handoffEntry struct {
	key          string
	submissionID string
	at           time.Time
	size         int64
	pkg          adapters.Package // without Files
	files        *handoffFiles
}

// handoffFiles are a submission's files, shared by the entries of its deliveries: the ones the
// process stage made, and the others once the first delivery has read them from the store.
type handoffFiles struct {
	atts    []store.Attachment // in package order, without Content
	bytes   int64              // their size
	mu      sync.Mutex
	content map[int][]byte // by seq
}

// get returns the content of the file with seq, if it is in memory.
func (f *handoffFiles) get(seq int) ([]byte, bool) {
	if f == nil {
		return nil, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.content[seq]
	return b, ok
}

// keep holds the content of the file with seq for the submission's other deliveries.
func (f *handoffFiles) keep(seq int, b []byte) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.content[seq] = b
}

const (
	// handoffMaxAge is how long an entry is kept: far longer than a delivery that keeps up waits,
	// far shorter than any retention period.
	handoffMaxAge = 10 * time.Second
	// handoffMaxBytes bounds the memory the entries hold; the oldest go first.
	handoffMaxBytes = 16 << 20
)

func newHandoff() *handoff { return &handoff{entries: map[string]*handoffEntry{}} }

// put keeps e under key; a queue whose deliveries fall behind drops its oldest entries.
func (h *handoff) put(key string, e *handoffEntry, now time.Time) {
	if e == nil {
		return
	}
	e.key, e.at = key, now
	e.size = int64(len(e.pkg.XML)) + e.files.bytes
	if e.size > handoffMaxBytes/4 {
		return // large packages are read from the store
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.entries[key]; ok {
		h.drop(old)
	}
	h.entries[key] = e
	h.fifo = append(h.fifo, e)
	h.bytes += e.size
	h.expire(now)
}

// take returns and forgets the entry for the queue message key of submission id; nil if there is
// none (or none young enough).
func (h *handoff) take(key, id string, now time.Time) *handoffEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.entries[key]
	if !ok {
		return nil
	}
	taken := *e
	h.drop(e)
	if taken.submissionID != id || now.Sub(taken.at) > handoffMaxAge {
		return nil
	}
	return &taken
}

// drop forgets e and lets go of its content; its place in the queue is cleared when it reaches
// the front.
func (h *handoff) drop(e *handoffEntry) {
	if h.entries[e.key] == e {
		delete(h.entries, e.key)
		h.bytes -= e.size
	}
	e.pkg, e.files = adapters.Package{}, nil
}

// expire forgets the oldest entries while they are too old or hold too much.
func (h *handoff) expire(now time.Time) {
	n := 0
	for ; n < len(h.fifo); n++ {
		e := h.fifo[n]
		if h.entries[e.key] == e && now.Sub(e.at) <= handoffMaxAge && h.bytes <= handoffMaxBytes {
			break
		}
		h.drop(e)
		h.fifo[n] = nil
	}
	h.fifo = h.fifo[n:] // append moves the rest to a new array when this one is full
}

// len is the number of entries kept (for tests).
func (h *handoff) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.entries)
}

// handedOff is the entry for message m of submission sub, whose files are files.
func handedOff(sub store.Submission, m store.Message, files *handoffFiles) *handoffEntry {
	if files == nil {
		return nil
	}
	return &handoffEntry{
		submissionID: sub.ID,
		pkg: adapters.Package{
			SubmissionID: sub.ID, Route: sub.Route, MessageID: m.MessageID, MessageType: m.MessageType,
			CreatedAt: time.UnixMilli(m.CreatedAt.UnixMilli()).UTC(), // as the store gives it back
			Leistung:  sub.Leistung, AGS: sub.AGS, XML: m.XML, MediaType: m.MediaType,
		},
		files: files,
	}
}

// handedOffFiles are the files of a submission whose attachments are atts (as read, and the
// files made for it at the end) and made the files this process stage made and stored; nil if
// their content is not at hand.
func handedOffFiles(atts, made []store.Attachment) *handoffFiles {
	f := &handoffFiles{content: make(map[int][]byte, len(made)), atts: make([]store.Attachment, 0, len(atts))}
	for _, a := range atts[:len(atts)-len(made)] {
		a.Content = nil
		f.atts = append(f.atts, a)
		f.bytes += a.Size
	}
	for _, a := range made {
		b, ok := store.ContentBytes(a.Content)
		if !ok {
			return nil
		}
		a.Content = nil
		f.atts = append(f.atts, a)
		f.content[a.Seq] = b
		f.bytes += int64(len(b))
	}
	slices.SortStableFunc(f.atts, func(a, b store.Attachment) int { return a.Seq - b.Seq })
	return f
}
