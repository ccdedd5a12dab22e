package adapter

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// StreamMode is how a Stream shows text as it grows.
type StreamMode string

// Stream modes, best first. A stream starts in the best mode the chat's
// descriptor allows and degrades when the connector refuses a mode.
const (
	// StreamDraft sends draft frames (one draft_id per message) and seals
	// each message with final:true. Needs supports_draft_streaming and
	// draft advertised.
	StreamDraft StreamMode = "draft"
	// StreamEdit sends a message, then edits it as text grows. Needs
	// supports_edit.
	StreamEdit StreamMode = "edit"
	// StreamSegments sends one message per segment: text is held until
	// EndSegment or Close, and sent as soon as it fills a message.
	StreamSegments StreamMode = "segments"
)

// Stream is an answer written piece by piece. Every message it shows,
// draft or edit included, stays within the chat's length limit: when the
// text outgrows a message, the message is finished and the rest starts a
// new one (code fences closed and reopened across the cut). Methods are
// safe for concurrent use; they serialise.
//
// After an egress decline the stream is dead: nothing more is sent, and
// every method returns the decline.
type Stream struct {
	c *Chat

	mu      sync.Mutex
	mode    StreamMode
	replyTo string // for the stream's first message only
	prefix  string // reopening fence in front of buf
	buf     strings.Builder
	shown   string // what the open message shows (edit) or previews (draft)
	msgID   string // edit: the open message
	draftID int64  // draft: the open message's draft
	last    time.Time
	sent    Sent
	err     error
	closed  bool
}

// Stream starts a streamed message in the chat.
func (c *Chat) Stream() *Stream { return c.stream("") }

func (c *Chat) stream(replyTo string) *Stream {
	d := c.Descriptor()
	s := &Stream{c: c, replyTo: replyTo, mode: StreamSegments}
	switch {
	case c.supports(d, contract.OpDraft):
		s.mode = StreamDraft
		s.draftID = c.g.draftN.Add(1)
	case c.supports(d, contract.OpEdit):
		s.mode = StreamEdit
	}
	return s
}

// Mode returns the stream's current mode.
func (s *Stream) Mode() StreamMode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode
}

// Write appends text. It sends an update when the last one is at least
// Options.StreamInterval old, and finishes messages the text overflows.
func (s *Stream) Write(ctx context.Context, text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if s.closed {
		return ErrStreamClosed
	}
	s.buf.WriteString(text)
	iv := s.c.g.opts.StreamInterval
	if iv < 0 || s.last.IsZero() || s.c.g.clk.Now().Sub(s.last) >= iv {
		return s.update(ctx)
	}
	return s.overflow(ctx)
}

// Flush sends an update now.
func (s *Stream) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || s.closed {
		return s.err
	}
	return s.update(ctx)
}

// EndSegment finishes the current message (sealing the draft, making the
// last edit, or sending the held segment); the next Write starts a new
// one.
func (s *Stream) EndSegment(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || s.closed {
		return s.err
	}
	return s.finishOpen(ctx)
}

// Close finishes the stream and returns the messages it created. A stream
// that got no text sends nothing.
func (s *Stream) Close(ctx context.Context) (Sent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || s.closed {
		return s.sent, s.err
	}
	s.closed = true
	err := s.finishOpen(ctx)
	return s.sent, err
}

func (s *Stream) open() string { return s.prefix + s.buf.String() }

func (s *Stream) splitter() Splitter { return s.c.splitter(s.c.Descriptor()) }

func (s *Stream) takeReplyTo() string {
	r := s.replyTo
	s.replyTo = ""
	return r
}

// reset starts a new open message holding rest behind prefix.
func (s *Stream) reset(prefix, rest string) {
	s.prefix = prefix
	s.buf.Reset()
	s.buf.WriteString(rest)
	s.shown, s.msgID = "", ""
	if s.mode == StreamDraft {
		s.draftID = s.c.g.draftN.Add(1)
	}
}

func (s *Stream) fail(err error) error {
	s.err = err
	return err
}

// overflow finishes messages while the open text is over the limit.
func (s *Stream) overflow(ctx context.Context) error {
	for s.err == nil {
		first, rest, reopen, ok := s.splitter().cutFirst(s.open())
		if !ok {
			return nil
		}
		if err := s.deliver(ctx, first); err != nil {
			return err
		}
		s.reset(reopen, rest)
	}
	return s.err
}

// update shows the open text: a draft frame or an edit (a send for the
// first one). Segments wait for EndSegment or Close.
func (s *Stream) update(ctx context.Context) error {
	if err := s.overflow(ctx); err != nil {
		return err
	}
	text := s.open()
	if text == "" || text == s.shown {
		return nil
	}
	s.last = s.c.g.clk.Now()
	d := s.c.Descriptor()
	switch s.mode {
	case StreamDraft:
		r := s.c.do(ctx, s.draftAction(d, text, false))
		switch {
		case r.Success:
			s.shown = text
		case declined(r):
			return s.fail(resultErr(contract.OpDraft, r))
		case r.Ambiguous:
			// The next update supersedes this one.
		default:
			s.degrade(d, r)
		}
	case StreamEdit:
		if s.msgID == "" {
			r := s.c.sendOne(ctx, d, text, s.takeReplyTo(), true)
			if err := resultErr(contract.OpSend, r); err != nil {
				return s.fail(err)
			}
			s.sent.add(r.MessageID)
			s.msgID, s.shown = r.MessageID, text
			if r.MessageID == "" {
				// Nothing to edit: what was sent stays, the rest comes
				// as further messages.
				s.mode = StreamSegments
				s.reset("", "")
			}
			return nil
		}
		r := s.c.editOne(ctx, d, s.msgID, text)
		switch {
		case r.Success:
			s.shown = text
		case declined(r):
			return s.fail(resultErr(contract.OpEdit, r))
		case r.Ambiguous:
		default:
			s.editFailed(text, r)
		}
	}
	return nil
}

// degrade leaves draft mode after a definite refusal of a draft frame.
// Nothing the drafts previewed is lost: the open text is still held.
func (s *Stream) degrade(d contract.CapabilityDescriptor, r contract.Result) {
	s.c.g.log.Info("relay draft refused; streaming without drafts", slog.String("error", r.Error))
	s.shown = ""
	if s.c.supports(d, contract.OpEdit) {
		s.mode = StreamEdit
	} else {
		s.mode = StreamSegments
	}
}

// editFailed leaves edit mode after a definite refusal of an edit: the
// message keeps what it shows, and the text beyond it becomes the next
// segment.
func (s *Stream) editFailed(text string, r contract.Result) {
	s.c.g.log.Info("relay edit refused; streaming by segments", slog.String("error", r.Error))
	s.mode = StreamSegments
	rest := text
	prefix := ""
	if strings.HasPrefix(text, s.shown) {
		rest = text[len(s.shown):]
		var sc fenceScanner
		if st := sc.at(text, len(s.shown)); st.inside {
			prefix = s.splitter().reopen(st.lang, s.splitter().limit(), 0)
		}
	}
	s.reset(prefix, rest)
}

func (s *Stream) draftAction(d contract.CapabilityDescriptor, text string, final bool) contract.Action {
	return contract.Action{
		Op: contract.OpDraft, ChatID: s.c.id, DraftID: s.draftID, Content: text, Final: final,
		Metadata: s.c.metadata(d, true),
	}
}

// finishOpen delivers the open message in full and starts a new, empty
// one.
func (s *Stream) finishOpen(ctx context.Context) error {
	if err := s.overflow(ctx); err != nil {
		return err
	}
	text := s.open()
	if text == "" && s.msgID == "" {
		return nil
	}
	if err := s.deliver(ctx, text); err != nil {
		return err
	}
	s.reset("", "")
	return nil
}

// deliver makes content, which fits the limit, a finished message: seals
// the draft, makes the last edit, or sends it.
func (s *Stream) deliver(ctx context.Context, content string) error {
	d := s.c.Descriptor()
	switch s.mode {
	case StreamDraft:
		a := s.draftAction(d, content, true)
		r := s.c.do(ctx, a)
		if r.Ambiguous {
			// A seal is idempotent: retry the identical frame once.
			r = s.c.do(ctx, a)
		}
		switch {
		case r.Success:
			s.sent.add(r.MessageID)
			return nil
		case r.Ambiguous, declined(r):
			return s.fail(resultErr(contract.OpDraft, r))
		}
		// A definite refusal of the seal: deliver the content as a plain
		// message, and stream the rest without drafts.
		s.degrade(d, r)
		s.msgID = ""
	case StreamEdit:
		if s.msgID != "" {
			if content == s.shown {
				return nil
			}
			r := s.c.editOne(ctx, d, s.msgID, content)
			switch {
			case r.Success:
				s.shown = content
				return nil
			case declined(r), r.Ambiguous:
				return s.fail(resultErr(contract.OpEdit, r))
			}
			shown := s.shown
			s.editFailed(content, r)
			content = strings.TrimPrefix(content, shown)
			if s.prefix != "" {
				content = s.prefix + content
			}
			if content == "" {
				return nil
			}
		}
	}
	r := s.c.sendOne(ctx, d, content, s.takeReplyTo(), true)
	if err := resultErr(contract.OpSend, r); err != nil {
		return s.fail(err)
	}
	s.sent.add(r.MessageID)
	return nil
}
