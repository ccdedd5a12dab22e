package simulator

// boundedLog keeps records per key (a gateway id, or an instance id),
// oldest first, bounded per key and in total, in count and in bytes. Past a
// bound the oldest records go first, counted in dropped; the newest record
// of a key is always kept, so one record larger than a cap is still
// inspectable. Callers hold the lock that guards it.
type boundedLog[T any] struct {
	perCount   int
	perBytes   int64
	totalBytes int64
	size       func(T) int64

	lists   map[string]*logList[T]
	count   int
	bytes   int64
	dropped uint64
}

type logList[T any] struct {
	items []sizedItem[T]
	head  int // items before head were dropped
	bytes int64
}

type sizedItem[T any] struct {
	v T
	n int64
}

func (b *boundedLog[T]) init(perCount int, perBytes, totalBytes int64, size func(T) int64) {
	b.perCount, b.perBytes, b.totalBytes, b.size = perCount, perBytes, totalBytes, size
	b.reset()
}

func (b *boundedLog[T]) reset() {
	b.lists = map[string]*logList[T]{}
	b.count, b.bytes = 0, 0
}

func (l *logList[T]) len() int { return len(l.items) - l.head }

// add appends v to key's records and drops what the bounds require.
func (b *boundedLog[T]) add(key string, v T) {
	l := b.lists[key]
	if l == nil {
		l = &logList[T]{}
		b.lists[key] = l
	}
	n := b.size(v)
	l.items = append(l.items, sizedItem[T]{v, n})
	l.bytes += n
	b.bytes += n
	b.count++
	for l.len() > 1 && (l.len() > b.perCount || l.bytes > b.perBytes) {
		b.dropOldest(key, l)
	}
	for b.bytes > b.totalBytes {
		// The key holding the most gives first: one gateway's flood
		// evicts its own records before anyone else's.
		vk, victim := "", (*logList[T])(nil)
		for k, c := range b.lists {
			if victim == nil || c.bytes > victim.bytes {
				vk, victim = k, c
			}
		}
		if victim == l && l.len() == 1 {
			break
		}
		b.dropOldest(vk, victim)
	}
}

func (b *boundedLog[T]) dropOldest(key string, l *logList[T]) {
	it := l.items[l.head]
	l.items[l.head] = sizedItem[T]{}
	l.head++
	l.bytes -= it.n
	b.bytes -= it.n
	b.count--
	b.dropped++
	switch {
	case l.len() == 0:
		delete(b.lists, key)
	case l.head >= 64 && l.head > len(l.items)/2:
		// Compact, so dropped slots do not pin the backing array.
		l.items = append(l.items[:0:0], l.items[l.head:]...)
		l.head = 0
	}
}

// each calls f with key's records, oldest first, or every key's when key
// is "".
func (b *boundedLog[T]) each(key string, f func(T)) {
	visit := func(l *logList[T]) {
		for _, it := range l.items[l.head:] {
			f(it.v)
		}
	}
	if key != "" {
		if l := b.lists[key]; l != nil {
			visit(l)
		}
		return
	}
	for _, l := range b.lists {
		visit(l)
	}
}

// boundedMap is a string map per key (a gateway id) with the same bounds
// as boundedLog: past them the oldest inserted entries are forgotten.
type boundedMap struct {
	perCount   int
	perBytes   int64
	totalBytes int64

	lists   map[string]*mapList
	count   int
	bytes   int64
	dropped uint64
}

type mapList struct {
	m     map[string]string
	order []string // insertion order; entries before head were dropped
	head  int
	bytes int64
}

// mapEntryOverhead approximates what a map entry and its order slot cost
// beyond the key's and value's bytes.
const mapEntryOverhead = 80

func (b *boundedMap) init(perCount int, perBytes, totalBytes int64) {
	b.perCount, b.perBytes, b.totalBytes = perCount, perBytes, totalBytes
	b.reset()
}

func (b *boundedMap) reset() {
	b.lists = map[string]*mapList{}
	b.count, b.bytes = 0, 0
}

func (b *boundedMap) get(key, k string) (string, bool) {
	l := b.lists[key]
	if l == nil {
		return "", false
	}
	v, ok := l.m[k]
	return v, ok
}

// put sets k to v in key's map; a new entry may push the oldest out.
func (b *boundedMap) put(key, k, v string) {
	l := b.lists[key]
	if l == nil {
		l = &mapList{m: map[string]string{}}
		b.lists[key] = l
	}
	if old, ok := l.m[k]; ok {
		d := int64(len(v) - len(old))
		l.m[k] = v
		l.bytes += d
		b.bytes += d
	} else {
		n := int64(len(k)+len(v)) + mapEntryOverhead
		l.m[k] = v
		l.order = append(l.order, k)
		l.bytes += n
		b.bytes += n
		b.count++
	}
	for len(l.m) > 1 && (len(l.m) > b.perCount || l.bytes > b.perBytes) {
		b.dropOldest(key, l)
	}
	for b.bytes > b.totalBytes {
		vk, victim := "", (*mapList)(nil)
		for kk, c := range b.lists {
			if victim == nil || c.bytes > victim.bytes {
				vk, victim = kk, c
			}
		}
		if victim == l && len(l.m) == 1 {
			break
		}
		b.dropOldest(vk, victim)
	}
}

func (b *boundedMap) dropOldest(key string, l *mapList) {
	k := l.order[l.head]
	l.order[l.head] = ""
	l.head++
	n := int64(len(k)+len(l.m[k])) + mapEntryOverhead
	delete(l.m, k)
	l.bytes -= n
	b.bytes -= n
	b.count--
	b.dropped++
	switch {
	case len(l.m) == 0:
		delete(b.lists, key)
	case l.head >= 64 && l.head > len(l.order)/2:
		l.order = append(l.order[:0:0], l.order[l.head:]...)
		l.head = 0
	}
}

// Usage is what the simulator holds in its bounded structures, in entries
// and bytes, and how often a bound had to act. Byte counts are the
// simulator's own accounting (payloads, keys and a fixed overhead per
// entry), close to but not exactly the heap they take.
type Usage struct {
	// Sockets open, and their write queues (Options.QueueMaxFrames,
	// QueueMaxBytes, QueueMaxTotalBytes).
	Sessions     int   `json:"sessions"`
	QueuedFrames int   `json:"queuedFrames"`
	QueuedBytes  int64 `json:"queuedBytes"`
	// Buffered entries across instances (Options.BufferMaxEntries,
	// BufferMaxBytes, BufferMaxTotalBytes), the events a full buffer
	// refused with 507, and the live deliveries re-buffered because their
	// socket closed before writing them.
	BufferedEntries int    `json:"bufferedEntries"`
	BufferedBytes   int64  `json:"bufferedBytes"`
	BufferRefused   uint64 `json:"bufferRefused"`
	Rebuffered      uint64 `json:"rebuffered"`
	// Outbound records, interrupts, wakes, and remembered draft and
	// thread ids (Options.HistorySize, HistoryMaxBytes,
	// HistoryMaxTotalBytes); Dropped counts the oldest ones a bound
	// removed.
	Outbound  Retained `json:"outbound"`
	Interrupt Retained `json:"interrupts"`
	Wakes     Retained `json:"wakes"`
	Drafts    Retained `json:"drafts"`
	Threads   Retained `json:"threads"`
	// Journal entries (Options.JournalSize, JournalMaxBytes).
	Journal Retained `json:"journal"`
	// Learned conversations and chats, for routing interrupts and
	// answering get_chat_info: at most 100,000 entries and 16 MiB, then
	// forgotten all at once.
	Learned Retained `json:"learned"`
}

// Retained is one bounded structure's size.
type Retained struct {
	Entries int    `json:"entries"`
	Bytes   int64  `json:"bytes"`
	Dropped uint64 `json:"dropped"`
}

// Usage reports what the simulator holds in its bounded structures.
func (s *Server) Usage() Usage {
	var u Usage
	s.mu.RLock()
	sessions := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	insts := make([]*instance, 0, len(s.instances))
	for _, in := range s.instances {
		insts = append(insts, in)
	}
	s.mu.RUnlock()
	u.Sessions = len(sessions)
	for _, sess := range sessions {
		f, b := sess.queueUsage()
		u.QueuedFrames += f
		u.QueuedBytes += b
	}
	for _, in := range insts {
		in.mu.Lock()
		u.BufferedEntries += len(in.buffer)
		u.BufferedBytes += in.bufBytes
		in.mu.Unlock()
	}
	u.BufferRefused, u.Rebuffered = s.bufRefused.Load(), s.rebuffered.Load()
	h := &s.hist
	h.mu.Lock()
	u.Outbound = Retained{h.outbound.count, h.outbound.bytes, h.outbound.dropped}
	u.Interrupt = Retained{h.intr.count, h.intr.bytes, h.intr.dropped}
	u.Wakes = Retained{h.wakes.count, h.wakes.bytes, h.wakes.dropped}
	u.Drafts = Retained{h.drafts.count, h.drafts.bytes, h.drafts.dropped}
	u.Threads = Retained{h.threads.count, h.threads.bytes, h.threads.dropped}
	h.mu.Unlock()
	u.Journal = s.jr.usage()
	s.learnMu.Lock()
	u.Learned = Retained{len(s.owners) + len(s.chats) + len(s.lastLearned), s.learnedBytes, s.learnedDropped}
	s.learnMu.Unlock()
	return u
}
