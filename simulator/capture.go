package simulator

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of CaptureOptions.
const (
	DefaultCaptureMaxBytes      = 16 << 20
	DefaultCaptureMaxOpen       = 64
	DefaultCaptureMaxTotalBytes = 1 << 30
)

// captureIndexSize caps the captures GET /captures lists and GET
// /captures/{sessionId} serves; the oldest finished ones leave the list
// first (their files stay).
const captureIndexSize = 1024

// CaptureOptions configure frame captures: each session's frames, both
// directions, as the wire carried them, written to a file of its own as
// NDJSON (one frame per line), the format `conform validate` reads.
type CaptureOptions struct {
	// Dir is the existing directory captures are written to, one file per
	// session, named <run>-s<session>-<gateway>.ndjson (run is random per
	// process, so runs never overwrite each other), mode 0600. Default
	// "": no captures, and the capture routes answer 409.
	Dir string

	// Paused starts with capturing switched off; POST /captures
	// {"capture": true} (or Server.SetCapturing) switches it on. Default
	// false: with Dir set, every session is captured from its first
	// frame.
	Paused bool

	// MaxBytes caps one capture file. The frame that would pass it and
	// every later one are left out (whole frames only, so the file stays
	// valid NDJSON), the capture is marked truncated and its file closed.
	// Default DefaultCaptureMaxBytes (16 MiB).
	MaxBytes int64

	// MaxOpen caps the capture files open at once (one per session being
	// captured). A session that would open one more is not captured, and
	// its capture says why. Default DefaultCaptureMaxOpen (64).
	MaxOpen int

	// MaxTotalBytes caps the bytes all captures of the process write
	// together; past it, captures are truncated as by MaxBytes and new
	// sessions are not captured. Default DefaultCaptureMaxTotalBytes
	// (1 GiB).
	MaxTotalBytes int64
}

func (o *CaptureOptions) defaults() error {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultCaptureMaxBytes
	}
	if o.MaxOpen <= 0 {
		o.MaxOpen = DefaultCaptureMaxOpen
	}
	if o.MaxTotalBytes <= 0 {
		o.MaxTotalBytes = DefaultCaptureMaxTotalBytes
	}
	if o.Dir == "" {
		return nil
	}
	fi, err := os.Stat(o.Dir)
	if err != nil || !fi.IsDir() {
		return fmt.Errorf("capture directory %s does not exist or is not a directory", o.Dir)
	}
	return nil
}

// CaptureInfo describes one session's capture.
type CaptureInfo struct {
	SessionID uint64 `json:"sessionId"`
	GatewayID string `json:"gatewayId"`
	// File is the capture's path; "" when the session was not captured.
	File string `json:"file,omitempty"`
	// Frames and Bytes count what the file holds.
	Frames int   `json:"frames"`
	Bytes  int64 `json:"bytes"`
	// FromStart is true when the file begins with the session's first
	// frame; false when capturing was switched on while it was open.
	FromStart bool `json:"fromStart"`
	// Open is true while frames are still being written.
	Open bool `json:"open"`
	// Truncated is true when a cap stopped the capture before the
	// session ended; Dropped counts the frames left out since.
	Truncated bool `json:"truncated,omitempty"`
	Dropped   int  `json:"dropped,omitempty"`
	// Reason says why the capture stopped early or never began.
	Reason    string    `json:"reason,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	EndedAt   time.Time `json:"endedAt,omitzero"`
}

// CaptureList is the answer of GET and POST /captures.
type CaptureList struct {
	// Capturing is true while new frames are being captured.
	Capturing bool `json:"capturing"`
	// Dir is where captures go; "" when captures are off.
	Dir string `json:"dir,omitempty"`
	// TotalBytes counts what every capture of the process wrote.
	TotalBytes    int64         `json:"totalBytes"`
	MaxBytes      int64         `json:"maxBytes"`
	MaxOpen       int           `json:"maxOpen"`
	MaxTotalBytes int64         `json:"maxTotalBytes"`
	Captures      []CaptureInfo `json:"captures"`
}

// CaptureRequest is the body of POST /captures: switch capturing on or
// off.
type CaptureRequest struct {
	Capture *bool `json:"capture"`
}

// capture is one session's capture file.
type capture struct {
	// done is set once the file is closed, or when it never opened; the
	// index reads it without mu.
	done atomic.Bool

	mu      sync.Mutex
	info    CaptureInfo
	f       *os.File // nil once closed, or when never opened
	scratch []byte
}

// captureSet holds every capture; it is safe for concurrent use.
type captureSet struct {
	opts CaptureOptions
	run  string
	on   atomic.Bool

	// Lock order: mu before a capture's mu, never the other way.
	mu    sync.RWMutex
	all   map[uint64]*capture
	order []uint64     // creation order, for the index cap
	open  atomic.Int32 // files open; grows only under mu
	total atomic.Int64
	// full is set once a frame did not fit the total cap: no capture
	// starts after that.
	full atomic.Bool
	// warned records the limits already logged, so a busy server logs
	// each once.
	warnedBytes, warnedOpen, warnedTotal atomic.Bool
}

func (cs *captureSet) init(o CaptureOptions, run string) {
	cs.opts, cs.run = o, run
	cs.all = map[uint64]*capture{}
	cs.on.Store(o.Dir != "" && !o.Paused)
}

// captureFrame adds one frame of sess to its capture, when capturing is on.
// A frame from the gateway comes without its newline, one to it with.
func (s *Server) captureFrame(sess *session, frame []byte) {
	cs := &s.capt
	if !cs.on.Load() {
		return
	}
	c := s.captureOf(sess)
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		if c.info.Truncated {
			c.info.Dropped++
		}
		return
	}
	line := frame
	if len(line) == 0 || line[len(line)-1] != '\n' {
		c.scratch = append(append(c.scratch[:0], frame...), '\n')
		line = c.scratch
	}
	n := int64(len(line))
	switch {
	case c.info.Bytes+n > cs.opts.MaxBytes:
		s.stopCaptureLocked(c, fmt.Sprintf("reached the %d-byte cap of one capture", cs.opts.MaxBytes), true)
		c.info.Dropped++
		if cs.warnedBytes.CompareAndSwap(false, true) {
			s.log.Warn("relaysim: a capture reached its byte cap; later frames of its session are left out", "sessionId", c.info.SessionID, "maxBytes", cs.opts.MaxBytes)
		}
		return
	case cs.total.Add(n) > cs.opts.MaxTotalBytes:
		cs.total.Add(-n)
		cs.full.Store(true)
		s.stopCaptureLocked(c, fmt.Sprintf("captures reached their %d-byte total cap", cs.opts.MaxTotalBytes), true)
		c.info.Dropped++
		if cs.warnedTotal.CompareAndSwap(false, true) {
			s.log.Warn("relaysim: captures reached their total cap; no more frames are captured", "maxTotalBytes", cs.opts.MaxTotalBytes)
		}
		return
	}
	if _, err := c.f.Write(line); err != nil {
		cs.total.Add(-n)
		// A partial line may be on disk; the index serves only the
		// bytes known whole.
		s.stopCaptureLocked(c, "failed to write: "+err.Error(), true)
		s.log.Warn("relaysim: capture stopped: failed to write", "sessionId", c.info.SessionID, "file", c.info.File, "err", err)
		c.info.Dropped++
		return
	}
	c.info.Frames++
	c.info.Bytes += n
	if cap(c.scratch) > 64<<10 {
		c.scratch = nil // do not pin a rare large frame's copy
	}
}

// captureFrames captures frames about to be written to sess, before the
// write, so the gateway's answer to one can never be captured ahead of it.
func (s *Server) captureFrames(sess *session, frames []outFrame) {
	if !s.capt.on.Load() {
		return
	}
	for _, f := range frames {
		s.captureFrame(sess, *f.buf)
	}
}

// captureOf returns sess's capture, making it at its first frame; nil when
// the session is not captured.
func (s *Server) captureOf(sess *session) *capture {
	cs := &s.capt
	cs.mu.RLock()
	c := cs.all[sess.id]
	cs.mu.RUnlock()
	if c != nil {
		return c // every frame but a session's first
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c := cs.all[sess.id]; c != nil {
		return c
	}
	c = &capture{info: CaptureInfo{
		SessionID: sess.id, GatewayID: sess.gw.GatewayID, StartedAt: s.clk.Now(),
		// The frame being captured is already counted.
		FromStart: sess.framesIn.Load()+sess.framesOut.Load() <= 1,
	}}
	cs.addLocked(c)
	switch {
	case int(cs.open.Load()) >= cs.opts.MaxOpen:
		c.info.Reason = fmt.Sprintf("not captured: %d captures open, the maximum", cs.opts.MaxOpen)
		if cs.warnedOpen.CompareAndSwap(false, true) {
			s.log.Warn("relaysim: too many captures open; new sessions are not captured until one ends", "maxOpen", cs.opts.MaxOpen)
		}
	case cs.full.Load() || cs.total.Load() >= cs.opts.MaxTotalBytes:
		c.info.Reason = fmt.Sprintf("not captured: captures reached their %d-byte total cap", cs.opts.MaxTotalBytes)
	default:
		name := fmt.Sprintf("%s-s%06d-%s.ndjson", cs.run, sess.id, fileSafe(sess.gw.GatewayID))
		path := filepath.Join(cs.opts.Dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			c.info.Reason = "not captured: " + err.Error()
			break
		}
		c.f, c.info.File, c.info.Open = f, path, true
		cs.open.Add(1)
		s.note(JournalEntry{Kind: JournalControl, GatewayID: sess.gw.GatewayID, SessionID: sess.id, Detail: "capture started: " + path})
		return c
	}
	c.info.EndedAt = c.info.StartedAt
	c.done.Store(true)
	s.note(JournalEntry{Kind: JournalControl, GatewayID: sess.gw.GatewayID, SessionID: sess.id, Detail: c.info.Reason})
	return c
}

// addLocked indexes c, dropping the oldest finished captures past the cap.
func (cs *captureSet) addLocked(c *capture) {
	cs.all[c.info.SessionID] = c
	cs.order = append(cs.order, c.info.SessionID)
	for i := 0; len(cs.all) > captureIndexSize && i < len(cs.order); {
		if !cs.all[cs.order[i]].done.Load() {
			i++
			continue
		}
		delete(cs.all, cs.order[i])
		cs.order = slices.Delete(cs.order, i, i+1)
	}
}

// stopCaptureLocked closes c's file; c.mu is held. truncated says the
// session goes on without it.
func (s *Server) stopCaptureLocked(c *capture, reason string, truncated bool) {
	if c.f == nil {
		return
	}
	c.f.Close()
	c.f = nil
	c.done.Store(true)
	c.info.Open = false
	c.info.EndedAt = s.clk.Now()
	if truncated {
		c.info.Truncated, c.info.Reason = true, reason
		s.note(JournalEntry{Kind: JournalControl, GatewayID: c.info.GatewayID, SessionID: c.info.SessionID, Detail: "capture stopped: " + reason})
	} else if reason != "" {
		c.info.Reason = reason
	}
	s.capt.open.Add(-1)
}

// endCapture closes sess's capture when the session ends.
func (s *Server) endCapture(sess *session) {
	cs := &s.capt
	if cs.opts.Dir == "" {
		return
	}
	cs.mu.Lock()
	c := cs.all[sess.id]
	cs.mu.Unlock()
	if c == nil {
		return
	}
	c.mu.Lock()
	s.stopCaptureLocked(c, "", false)
	c.mu.Unlock()
}

// Captures describes the capture state and every capture indexed, oldest
// first.
func (s *Server) Captures() CaptureList {
	cs := &s.capt
	out := CaptureList{
		Capturing: cs.on.Load(), Dir: cs.opts.Dir, TotalBytes: cs.total.Load(),
		MaxBytes: cs.opts.MaxBytes, MaxOpen: cs.opts.MaxOpen, MaxTotalBytes: cs.opts.MaxTotalBytes,
		Captures: []CaptureInfo{},
	}
	cs.mu.Lock()
	list := make([]*capture, 0, len(cs.order))
	for _, id := range cs.order {
		list = append(list, cs.all[id])
	}
	cs.mu.Unlock()
	for _, c := range list {
		c.mu.Lock()
		out.Captures = append(out.Captures, c.info)
		c.mu.Unlock()
	}
	return out
}

// Capture returns the capture of session id, when it is indexed.
func (s *Server) Capture(id uint64) (CaptureInfo, bool) {
	cs := &s.capt
	cs.mu.Lock()
	c := cs.all[id]
	cs.mu.Unlock()
	if c == nil {
		return CaptureInfo{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.info, true
}

// ErrNoCaptureDir is returned by SetCapturing when CaptureOptions.Dir is
// not set.
var ErrNoCaptureDir = errors.New("captures are off: no capture directory (relaysim --capture DIR, Options.Capture.Dir)")

// SetCapturing switches capturing on or off. Off closes every open
// capture (its session goes on uncaptured); on captures the sessions that
// have no capture yet, from their next frame, open ones included (their
// captures say fromStart false). A session gets at most one capture.
func (s *Server) SetCapturing(on bool) error {
	cs := &s.capt
	if cs.opts.Dir == "" {
		return ErrNoCaptureDir
	}
	cs.on.Store(on)
	if !on {
		cs.mu.Lock()
		list := make([]*capture, 0, len(cs.all))
		for _, c := range cs.all {
			list = append(list, c)
		}
		cs.mu.Unlock()
		for _, c := range list {
			c.mu.Lock()
			s.stopCaptureLocked(c, "capturing switched off", false)
			c.mu.Unlock()
		}
	}
	s.note(JournalEntry{Kind: JournalControl, Detail: "capturing switched " + map[bool]string{true: "on", false: "off"}[on]})
	return nil
}

// closeCaptures closes every capture file; used by Close.
func (s *Server) closeCaptures() {
	cs := &s.capt
	cs.on.Store(false)
	cs.mu.Lock()
	list := make([]*capture, 0, len(cs.all))
	for _, c := range cs.all {
		list = append(list, c)
	}
	cs.mu.Unlock()
	for _, c := range list {
		c.mu.Lock()
		s.stopCaptureLocked(c, "", false)
		c.mu.Unlock()
	}
}

// fileSafe keeps a gateway id readable in a file name: letters, digits,
// '.', '_' and '-', at most 64 bytes; anything else becomes '_'.
func fileSafe(id string) string {
	var b strings.Builder
	for _, r := range id {
		if b.Len() >= 64 {
			break
		}
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 || strings.Trim(b.String(), ".") == "" {
		return "gateway"
	}
	return b.String()
}

// ctlCaptures is GET /captures (the list) and POST /captures
// ({"capture": true|false}).
func (s *Server) ctlCaptures(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var req CaptureRequest
		if err := decodeControl(r, &req); err != nil {
			ctlFail(w, err)
			return
		}
		if req.Capture == nil {
			ctlFail(w, badRequest("capture", "missing; true switches capturing on, false off"))
			return
		}
		if err := s.SetCapturing(*req.Capture); err != nil {
			ctlFail(w, &RequestError{Status: http.StatusConflict, Message: err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, s.Captures())
}

// ctlCapture is GET /captures/{sessionId}: the capture file, as NDJSON, up
// to the last whole frame written.
func (s *Server) ctlCapture(w http.ResponseWriter, r *http.Request) {
	if s.capt.opts.Dir == "" {
		ctlFail(w, &RequestError{Status: http.StatusConflict, Message: ErrNoCaptureDir.Error()})
		return
	}
	id, err := strconv.ParseUint(r.PathValue("sessionId"), 10, 64)
	if err != nil {
		ctlFail(w, badRequest("sessionId", "must be a session id, such as 3"))
		return
	}
	info, ok := s.Capture(id)
	if !ok {
		ctlFail(w, &RequestError{Status: http.StatusNotFound, Field: "sessionId", Message: fmt.Sprintf("no capture of session %d (GET /captures lists them)", id)})
		return
	}
	if info.File == "" {
		ctlFail(w, &RequestError{Status: http.StatusNotFound, Field: "sessionId", Message: fmt.Sprintf("session %d was %s", id, strings.TrimPrefix(info.Reason, "not "))})
		return
	}
	f, err := os.Open(info.File)
	if err != nil {
		ctlFail(w, &RequestError{Status: http.StatusGone, Field: "sessionId", Message: fmt.Sprintf("capture file of session %d is gone: %v", id, errors.Unwrap(err))})
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.FormatInt(info.Bytes, 10))
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", filepath.Base(info.File)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.Copy(w, io.NewSectionReader(f, 0, info.Bytes))
	}
}
