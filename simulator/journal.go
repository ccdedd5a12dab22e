package simulator

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Journal entry kinds.
const (
	JournalFrameIn   = "frame_in"  // a frame read from a gateway
	JournalFrameOut  = "frame_out" // a frame written to a gateway
	JournalOpen      = "open"      // a socket authenticated and registered
	JournalAuth      = "auth"      // an upgrade token was refused
	JournalClose     = "close"     // a socket closed, by either side
	JournalHTTP      = "http"      // a contract HTTP route answered
	JournalWake      = "wake"      // a wake request was sent, failed or suppressed
	JournalBuffer    = "buffer"    // an event or forward was buffered
	JournalAck       = "ack"       // an inbound_ack released an entry
	JournalNoopAck   = "noop_ack"  // a duplicate, unknown or foreign ack (IDLE-018)
	JournalFlip      = "flip"      // an instance flipped to buffered-only or back
	JournalDrain     = "drain"     // a drain started, stopped or completed
	JournalFiltered  = "filtered"  // the relevance policy held an event back
	JournalIgnored   = "ignored"   // a frame was ignored (unknown type, unfronted hello, ...)
	JournalFault     = "fault"     // an injected fault acted
	JournalKeepalive = "keepalive" // a ping was answered, or not in time
	JournalControl   = "control"   // a control operation changed state
)

// journalKinds lists the kinds, for GET /journal?kind= to refuse others.
var journalKinds = []string{
	JournalFrameIn, JournalFrameOut, JournalOpen, JournalAuth, JournalClose, JournalHTTP, JournalWake,
	JournalBuffer, JournalAck, JournalNoopAck, JournalFlip, JournalDrain, JournalFiltered, JournalIgnored,
	JournalFault, JournalKeepalive, JournalControl,
}

func knownJournalKind(k string) bool { return slices.Contains(journalKinds, k) }

func journalKindList() string { return strings.Join(journalKinds, ", ") }

// JournalEntry is one thing that happened, in order. Secrets and tokens
// never appear in it.
type JournalEntry struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	GatewayID string    `json:"gatewayId,omitempty"`
	SessionID uint64    `json:"sessionId,omitempty"`
	Instance  string    `json:"instance,omitempty"`
	FrameType string    `json:"frameType,omitempty"`
	// Frame is the frame text, cut to Options.JournalFrameBytes.
	Frame     string `json:"frame,omitempty"`
	Size      int    `json:"size,omitempty"`
	BufferID  string `json:"bufferId,omitempty"`
	RequestID string `json:"requestId,omitempty"`
	Code      int    `json:"code,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Method    string `json:"method,omitempty"`
	Path      string `json:"path,omitempty"`
	Status    int    `json:"status,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

// journal is a bounded ring of entries with a sequence number that never
// repeats, so readers can page with "since".
type journal struct {
	mu       sync.Mutex
	ring     []JournalEntry
	start    int // index of the oldest entry
	n        int
	seq      uint64
	changed  chan struct{} // non-nil only while someone waits
	frameCap int
	maxBytes int64
	bytes    int64  // entrySize of the entries held
	dropped  uint64 // entries dropped for room
}

func newJournal(size, frameCap int, maxBytes int64) *journal {
	return &journal{ring: make([]JournalEntry, size), frameCap: frameCap, maxBytes: maxBytes}
}

// journalEntryOverhead is an entry's fixed size: its struct in the ring.
const journalEntryOverhead = 256

func (j *journal) entrySize(e *JournalEntry) int64 {
	return journalEntryOverhead + int64(len(e.GatewayID)+len(e.Instance)+len(e.FrameType)+len(e.Frame)+
		len(e.BufferID)+len(e.RequestID)+len(e.Reason)+len(e.Method)+len(e.Path)+len(e.Detail))
}

// clip cuts s to at most n bytes, keeping UTF-8 whole and saying so.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = "…(cut)"
	cut := max(0, n-len(more))
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

// add stamps e with the next sequence number and stores it. Every text a
// peer can choose is cut to the frame cap, and the oldest entries go when
// the journal holds more than its bytes.
func (j *journal) add(e JournalEntry) uint64 {
	for _, p := range []*string{&e.GatewayID, &e.Instance, &e.FrameType, &e.BufferID, &e.RequestID, &e.Reason, &e.Method, &e.Path, &e.Detail} {
		*p = clip(*p, j.frameCap)
	}
	size := j.entrySize(&e)
	j.mu.Lock()
	j.seq++
	e.Seq = j.seq
	if j.n == len(j.ring) {
		j.dropOldestLocked()
	}
	for j.n > 0 && j.bytes+size > j.maxBytes {
		j.dropOldestLocked()
	}
	j.ring[(j.start+j.n)%len(j.ring)] = e
	j.n++
	j.bytes += size
	if j.changed != nil {
		close(j.changed)
		j.changed = nil
	}
	j.mu.Unlock()
	return e.Seq
}

func (j *journal) dropOldestLocked() {
	j.bytes -= j.entrySize(&j.ring[j.start])
	j.ring[j.start] = JournalEntry{}
	j.start = (j.start + 1) % len(j.ring)
	j.n--
	j.dropped++
}

func (j *journal) usage() Retained {
	j.mu.Lock()
	defer j.mu.Unlock()
	return Retained{Entries: j.n, Bytes: j.bytes, Dropped: j.dropped}
}

// frameText copies at most the journal's cap of a frame, without its
// trailing newline.
func (j *journal) frameText(b []byte) string {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if len(b) > j.frameCap {
		b = b[:j.frameCap]
	}
	return string(b)
}

// since returns the entries with a sequence number above seq, oldest first.
func (j *journal) since(seq uint64) []JournalEntry {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.sinceLocked(seq)
}

func (j *journal) sinceLocked(seq uint64) []JournalEntry {
	out := []JournalEntry{}
	for i := 0; i < j.n; i++ {
		e := j.ring[(j.start+i)%len(j.ring)]
		if e.Seq > seq {
			out = append(out, e)
		}
	}
	return out
}

// last returns the newest sequence number.
func (j *journal) last() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.seq
}

// await blocks until an entry after seq satisfies match, or ctx ends.
func (j *journal) await(ctx context.Context, seq uint64, match func(JournalEntry) bool) (JournalEntry, error) {
	for {
		j.mu.Lock()
		for _, e := range j.sinceLocked(seq) {
			if match == nil || match(e) {
				j.mu.Unlock()
				return e, nil
			}
			seq = e.Seq
		}
		if j.changed == nil {
			j.changed = make(chan struct{})
		}
		ch := j.changed
		j.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return JournalEntry{}, ctx.Err()
		}
	}
}

func (j *journal) reset() {
	j.mu.Lock()
	defer j.mu.Unlock()
	clear(j.ring)
	j.start, j.n, j.bytes = 0, 0, 0
}

// page returns at most max entries with a sequence number above seq,
// oldest first, and the sequence number of the oldest entry the ring still
// holds (0 when it is empty), so a reader that fell behind the ring can
// tell how many entries it missed.
func (j *journal) page(seq uint64, max int) (entries []JournalEntry, oldest uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.n > 0 {
		oldest = j.ring[j.start].Seq
	}
	// Sequence numbers rise along the ring: find the first one after seq.
	at := func(i int) JournalEntry { return j.ring[(j.start+i)%len(j.ring)] }
	first := sort.Search(j.n, func(i int) bool { return at(i).Seq > seq })
	for i := first; i < j.n && len(entries) < max; i++ {
		entries = append(entries, at(i))
	}
	return entries, oldest
}
