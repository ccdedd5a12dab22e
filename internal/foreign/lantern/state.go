package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"time"
)

// recent is a bounded set remembering the most recent keys (IN-010 needs
// at least 512; lantern keeps 1024).
type recent struct {
	mu   sync.Mutex
	max  int
	ring []string
	next int
	set  map[string]bool
}

func newRecent(max int) *recent { return &recent{max: max, set: map[string]bool{}} }

func (r *recent) has(k string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.set[k]
}

func (r *recent) add(k string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if k == "" || r.set[k] {
		return
	}
	if len(r.ring) < r.max {
		r.ring = append(r.ring, k)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = k
		r.next = (r.next + 1) % r.max
	}
	r.set[k] = true
}

// chatMeta is the metadata stamp learnt from a chat's latest inbound event
// (OUT-027): scope_id, user_id and profile.
type chatMeta struct {
	mu    sync.Mutex
	max   int
	order []string
	m     map[string]map[string]string
}

func newChatMeta(max int) *chatMeta { return &chatMeta{max: max, m: map[string]map[string]string{}} }

func chatKey(platform, chat string) string { return platform + "\x00" + chat }

func (c *chatMeta) learn(s source) {
	md := map[string]string{}
	if s.ScopeID != "" {
		md["scope_id"] = s.ScopeID
	}
	if s.UserID != "" {
		md["user_id"] = s.UserID
	}
	if s.Profile != "" {
		md["profile"] = s.Profile
	}
	k := chatKey(s.Platform, s.ChatID)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok {
		if len(c.order) >= c.max {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, k)
	}
	c.m[k] = md
}

// stamp returns a fresh metadata object for an action toward a chat; never
// nil, so it encodes as an object.
func (c *chatMeta) stamp(platform, chat string) map[string]any {
	out := map[string]any{}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.m[chatKey(platform, chat)] {
		out[k] = v
	}
	return out
}

// turnTable runs agent turns: at most maxTurns at once, each cancellable
// by its session key (IN-012).
type turnTable struct {
	mu      sync.Mutex
	seq     uint64
	running map[uint64]*turn
	slots   chan struct{}
}

type turn struct {
	id      uint64
	session string
	chat    string
	ctx     context.Context
	cancel  context.CancelCauseFunc
}

var errInterrupted = errors.New("interrupted by interrupt_inbound")

func newTurnTable(max int) *turnTable {
	return &turnTable{running: map[uint64]*turn{}, slots: make(chan struct{}, max)}
}

// reserve takes a turn slot without waiting; false when every slot is
// busy, and the event is then not admitted.
func (t *turnTable) reserve() bool {
	select {
	case t.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (t *turnTable) release() { <-t.slots }

// start registers a turn on a reserved slot.
func (t *turnTable) start(parent context.Context, session, chat string) *turn {
	ctx, cancel := context.WithCancelCause(parent)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	tr := &turn{id: t.seq, session: session, chat: chat, ctx: ctx, cancel: cancel}
	t.running[tr.id] = tr
	return tr
}

// end unregisters a turn and frees its slot.
func (t *turnTable) end(tr *turn) {
	tr.cancel(nil)
	t.mu.Lock()
	delete(t.running, tr.id)
	t.mu.Unlock()
	t.release()
}

// interrupt cancels the running turns of one session key, or, with byChat
// (the deviation interrupt-cancels-chat), every turn in chat.
func (t *turnTable) interrupt(session, chat string, byChat bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, tr := range t.running {
		if (!byChat && tr.session == session) || (byChat && tr.chat == chat) {
			tr.cancel(errInterrupted)
			n++
		}
	}
	return n
}

// promptBook remembers the prompts this process minted, for an hour, so a
// press can be answered (IN-014: only presses on its own prompts).
type promptBook struct {
	mu       sync.Mutex
	prefix   string // every id this process mints starts with it
	seq      int
	max      int
	open     map[string]*pendingPrompt
	answered *recent
	byChat   map[string]string // chat key -> id of a text-fallback prompt
}

type pendingPrompt struct {
	id       string
	platform string
	chat     string
	options  map[string]string // option id -> label
	order    []string
	expires  time.Time
}

const promptTTL = time.Hour

func newPromptBook() *promptBook {
	return &promptBook{prefix: "lt" + randomHex(3) + "-", max: 256, open: map[string]*pendingPrompt{},
		answered: newRecent(256), byChat: map[string]string{}}
}

// mint registers a new prompt and returns it.
func (b *promptBook) mint(platform, chat string, ids, labels []string, now time.Time) *pendingPrompt {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expireLocked(now)
	if len(b.open) >= b.max { // drop the one closest to expiry
		var oldest *pendingPrompt
		for _, p := range b.open {
			if oldest == nil || p.expires.Before(oldest.expires) {
				oldest = p
			}
		}
		delete(b.open, oldest.id)
	}
	b.seq++
	p := &pendingPrompt{id: b.prefix + strings.ToLower(strconvBase36(b.seq)), platform: platform, chat: chat,
		options: map[string]string{}, expires: now.Add(promptTTL)}
	for i, id := range ids {
		p.options[id] = labels[i]
		p.order = append(p.order, id)
	}
	b.open[p.id] = p
	return p
}

func (b *promptBook) expireLocked(now time.Time) {
	for id, p := range b.open {
		if now.After(p.expires) {
			delete(b.open, id)
		}
	}
}

// pressOutcome is what a press on a prompt means.
type pressOutcome int

const (
	pressForeign  pressOutcome = iota // minted by another process: dropped
	pressRepeated                     // already answered: dropped
	pressExpired                      // ours but gone: a short notice
	pressAnswer                       // answer it
)

// press settles a press on prompt id, option opt.
func (b *promptBook) press(id, opt string, now time.Time) (pressOutcome, *pendingPrompt, string) {
	if !strings.HasPrefix(id, b.prefix) {
		return pressForeign, nil, ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expireLocked(now)
	p, ok := b.open[id]
	if !ok {
		if b.answered.has(id) {
			return pressRepeated, nil, ""
		}
		return pressExpired, nil, ""
	}
	label, ok := p.options[opt]
	if !ok {
		return pressForeign, nil, "" // not an option of ours: ignore
	}
	delete(b.open, id)
	if b.byChat[chatKey(p.platform, p.chat)] == id {
		delete(b.byChat, chatKey(p.platform, p.chat))
	}
	b.answered.add(id)
	return pressAnswer, p, label
}

// forget drops a prompt whose action failed.
func (b *promptBook) forget(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.open[id]; ok {
		delete(b.open, id)
		if b.byChat[chatKey(p.platform, p.chat)] == id {
			delete(b.byChat, chatKey(p.platform, p.chat))
		}
	}
}

// textPrompt marks p as answerable by a numbered reply in its chat.
func (b *promptBook) textPrompt(p *pendingPrompt) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.byChat[chatKey(p.platform, p.chat)] = p.id
}

// textAnswer matches a chat message against a text-fallback prompt in that
// chat: "2", "banana" or "Banana" picks the second option.
func (b *promptBook) textAnswer(platform, chat, text string, now time.Time) (string, bool) {
	b.mu.Lock()
	id, ok := b.byChat[chatKey(platform, chat)]
	var p *pendingPrompt
	if ok {
		p = b.open[id]
	}
	b.mu.Unlock()
	if p == nil {
		return "", false
	}
	t := strings.ToLower(strings.TrimSpace(text))
	for i, oid := range p.order {
		if t == strconvBase36(i+1) || t == oid || t == strings.ToLower(p.options[oid]) {
			out, _, label := b.press(p.id, oid, now)
			return label, out == pressAnswer
		}
	}
	return "", false
}

func strconvBase36(n int) string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 36 {
		b = append([]byte{digits[n%36]}, b...)
	}
	return string(b)
}

// journal is the admission log: an event is admitted once its record is
// appended and synced, and only then acked (IDLE-013). The file is capped;
// at the cap it is emptied, since the replay filter keeps the recent keys
// in memory.
type journal struct {
	mu   sync.Mutex
	f    *os.File
	path string
	temp bool
	size int64
	max  int64
}

const journalMax = 16 << 20

// openJournal opens (or creates) the journal at path; "" makes a temporary
// one, removed by close. It returns the replay keys found in an existing
// file, oldest first.
func openJournal(path string) (*journal, []string, error) {
	j := &journal{path: path, max: journalMax}
	var keys []string
	if path == "" {
		f, err := os.CreateTemp("", "lantern-journal-*.ndjson")
		if err != nil {
			return nil, nil, err
		}
		j.f, j.path, j.temp = f, f.Name(), true
		return j, nil, nil
	}
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var rec struct {
				Key string `json:"key"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Key != "" {
				keys = append(keys, rec.Key)
			}
		}
		f.Close()
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	j.f, j.size = f, st.Size()
	return j, keys, nil
}

// append writes one record durably.
func (j *journal) append(rec any) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("journal closed")
	}
	if j.size+int64(len(b)) > j.max {
		if err := j.f.Truncate(0); err != nil {
			return err
		}
		if _, err := j.f.Seek(0, 0); err != nil {
			return err
		}
		j.size = 0
	}
	if _, err := j.f.Write(b); err != nil {
		return err
	}
	if err := j.f.Sync(); err != nil {
		return err
	}
	j.size += int64(len(b))
	return nil
}

func (j *journal) close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return
	}
	j.f.Close()
	j.f = nil
	if j.temp {
		os.Remove(j.path)
	}
}
