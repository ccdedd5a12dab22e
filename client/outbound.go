package client

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// call is one outbound waiting for its result. Exactly one result is ever
// delivered: whoever removes the call from its connection's table owns it.
type call struct {
	ch  chan outcome
	key string // its key in the connection's table
}

// outcome is what resolves a call: the result, and the client's own cause
// when the client made the result itself.
type outcome struct {
	r     contract.Result
	cause error
}

// resolve delivers the connector's result.
func (cl *call) resolve(r contract.Result) { cl.fail(r, nil) }

// fail delivers a result the client made itself, with its cause.
func (cl *call) fail(r contract.Result, cause error) {
	select {
	case cl.ch <- outcome{r, cause}:
	default:
	}
}

// CallOption adjusts one outbound call.
type CallOption func(*callConfig)

type callConfig struct {
	platform    string
	botID       string
	botIDSet    bool
	timeout     time.Duration
	mutate      []func(*contract.Action)
	platformSet bool
}

// Platform routes the call to one fronted platform: the frame carries
// "platform" and, when platform is one of the client's identities with a
// non-empty bot id, "botId". Without it the frame is untagged and the
// connector uses the connection's default (the first hello).
func Platform(platform string) CallOption {
	return func(c *callConfig) { c.platform, c.platformSet = platform, true }
}

// BotID overrides the botId tag; it is only sent together with a platform.
func BotID(botID string) CallOption {
	return func(c *callConfig) { c.botID, c.botIDSet = botID, true }
}

// Timeout overrides Options.OutboundTimeout for this call.
func Timeout(d time.Duration) CallOption { return func(c *callConfig) { c.timeout = d } }

// ReplyTo sets the action's reply_to (send, send_media, prompt).
func ReplyTo(messageID string) CallOption {
	return Modify(func(a *contract.Action) { a.ReplyTo = &messageID })
}

// WithMetadata sets the action's metadata: tenant discriminators such as
// scope_id, user_id and profile, and hints such as format_hints.
func WithMetadata(m map[string]any) CallOption {
	return Modify(func(a *contract.Action) { a.Metadata = m })
}

// Modify applies fn to the action before it is sent, for fields the typed
// methods do not take as arguments.
func Modify(fn func(*contract.Action)) CallOption {
	return func(c *callConfig) { c.mutate = append(c.mutate, fn) }
}

// Errors of outbound calls that the client reports itself, beside
// ErrClosed, ErrNotConnected and ErrConnectionLost. A *CallError wraps
// them; test with errors.Is.
var (
	// ErrOutboundTimeout: no result came within the call's timeout
	// (Options.OutboundTimeout or Timeout). When the frame was written the
	// result is ambiguous.
	ErrOutboundTimeout = errors.New("relay outbound timed out")
	// ErrUnsupportedOp: the target platform's descriptor does not
	// advertise the op, so the client refused it without sending it.
	ErrUnsupportedOp = errors.New("unsupported op")
	// ErrSendFailed: the frame could not be written, so the connector
	// cannot have acted on it.
	ErrSendFailed = errors.New("relay send failed")
)

// CallError is the error of an outbound call whose result is not a
// success. Every call returns one exactly when its Result has
// success:false, beside that Result, so a caller may test either.
type CallError struct {
	// Op is the action's op.
	Op string
	// Result is the unsuccessful result the call returned.
	Result contract.Result
	// Err is why the client made the result itself: ErrClosed,
	// ErrNotConnected, ErrConnectionLost, ErrOutboundTimeout,
	// ErrUnsupportedOp, a send failure (matching ErrSendFailed) or the
	// error of the call's context. It is nil when the connector answered
	// success:false.
	Err error
}

func (e *CallError) Error() string {
	msg := e.Result.Error
	if msg == "" {
		msg = "unsuccessful"
	}
	if e.Result.Code != "" && !strings.Contains(msg, e.Result.Code) {
		msg += " (" + e.Result.Code + ")"
	}
	if e.Result.Ambiguous {
		msg += " (ambiguous)"
	}
	return "relay " + e.Op + ": " + msg
}

// Unwrap returns Err.
func (e *CallError) Unwrap() error { return e.Err }

// Local results. Their error texts are the reference gateway's, so callers
// and logs read the same across implementations.
func failed(msg string) contract.Result { return contract.Result{Error: msg} }

func ambiguous(msg string) contract.Result { return contract.Result{Error: msg, Ambiguous: true} }

// Do sends one action and returns its result. It never hangs: it returns
// when the connector answers, when the call times out (ambiguous:true, the
// action may have been applied), when ctx ends, or at once when there is
// nothing to send it on. The error is nil exactly when the result is a
// success; otherwise it is a *CallError holding the same result, which
// matches (errors.Is) the client's own cause when the client made the
// result itself:
//
//   - ErrClosed, "relay transport closed": Close has started (nothing
//     sent);
//   - ErrNotConnected, "relay transport not connected": no live socket
//     (nothing sent);
//   - ErrUnsupportedOp, code "unsupported_op": the target platform's
//     descriptor does not advertise the op (nothing sent);
//   - ErrSendFailed, "relay send failed: <cause>": the write failed (not
//     applied);
//   - ErrOutboundTimeout, "relay outbound timed out", ambiguous: no result
//     in time;
//   - ErrConnectionLost, "relay transport connection lost", ambiguous: the
//     socket died after the frame was written (the reference does not mark
//     this one; the contract's settlement 9 does, because the connector
//     may have acted);
//   - ErrClosed, "relay send failed: relay transport closed", ambiguous:
//     Close ended the call after the frame was written;
//   - ctx's error, "relay outbound cancelled: <cause>": ctx ended
//     (ambiguous once the frame was written).
//
// A success:false answer of the connector matches none of them; its
// Result.Code says why.
//
// On a connection whose descriptor has not arrived yet, Do waits for it
// (within the call's timeout) instead of gating against a placeholder.
// Gating uses the descriptor of the platform the frame is routed to, or the
// primary descriptor for an untagged frame. (The reference gates most ops on
// the primary descriptor even for a tagged frame, and only delete and draft
// on the chat's own; but the connector answers unsupported_op for anything
// the target platform does not advertise, so the target's descriptor is the
// one that decides.) get_chat_info that is not advertised is answered
// locally as {name: chat_id, type: "dm"}.
func (c *Client) Do(ctx context.Context, a contract.Action, opts ...CallOption) (contract.Result, error) {
	r, cause := c.do(ctx, a, opts)
	if r.Success {
		return r, nil
	}
	return r, &CallError{Op: a.Op, Result: r, Err: cause}
}

// do is Do without the error value: it returns the result and, when the
// client made the result itself, its cause.
func (c *Client) do(ctx context.Context, a contract.Action, opts []CallOption) (contract.Result, error) {
	var cfg callConfig
	if len(opts) > 0 {
		// Options are rare on the hot path; only then does the config
		// escape to the heap.
		p := new(callConfig)
		for _, o := range opts {
			o(p)
		}
		cfg = *p
		if len(cfg.mutate) > 0 {
			ap := new(contract.Action)
			*ap = a
			for _, fn := range cfg.mutate {
				fn(ap)
			}
			a = *ap
		}
	}
	if c.closing.Load() {
		return failed(ErrClosed.Error()), ErrClosed
	}
	c.inflight.Add(1)
	defer c.callDone()
	if c.closing.Load() {
		return failed(ErrClosed.Error()), ErrClosed
	}
	cn := c.cur.Load()
	if cn == nil {
		return failed(ErrNotConnected.Error()), ErrNotConnected
	}
	timeout := c.opts.OutboundTimeout
	if cfg.timeout > 0 {
		timeout = cfg.timeout
	}
	var tm *callTimer
	if !cn.hsDone.Load() {
		tm = c.getTimer(timeout)
		select {
		case <-cn.hs:
		case <-cn.done:
			c.putTimer(tm)
			return failed(ErrConnectionLost.Error()), ErrConnectionLost
		case <-tm.t.C():
			tm.fired = true
			c.putTimer(tm)
			return failed("relay outbound timed out waiting for the descriptor"), ErrOutboundTimeout
		case <-ctx.Done():
			c.putTimer(tm)
			return failed("relay outbound cancelled: " + ctx.Err().Error()), ctx.Err()
		}
	}

	platform, botID := c.route(a, cfg)
	d, _ := cn.descs.Load().lookup(platform)
	if !d.SupportsOp(a.Op) && !c.dev.Has(deviation.ClientUnsupportedOpSent) {
		c.putTimer(tm)
		if a.Op == contract.OpGetChatInfo {
			// The reference answers an unadvertised get_chat_info itself.
			info := contract.ChatInfo{Name: a.ChatID, Type: "dm"}
			return contract.Result{Success: true, ChatInfo: &info}, nil
		}
		return contract.Result{Code: contract.CodeUnsupportedOp, Error: "unsupported op: " + a.Op}, ErrUnsupportedOp
	}

	id := c.nextRequestID()
	key := id
	if c.dev.Has(deviation.ClientRequestIDReuse) {
		key = c.internalID()
	}
	bp := getBuf()
	frame, err := contract.AppendFrame((*bp)[:0], contract.Outbound{RequestID: id, Action: a, Platform: platform, BotID: botID})
	if err != nil {
		putBuf(bp)
		c.putTimer(tm)
		return failed("relay send failed: " + err.Error()), wrapSend(err)
	}
	*bp = frame
	cl := getCall()
	cn.mu.Lock()
	if cn.dead {
		// The socket died between our look at it and now; nothing was
		// sent.
		cn.mu.Unlock()
		putBuf(bp)
		putCall(cl)
		c.putTimer(tm)
		return failed(ErrNotConnected.Error()), ErrNotConnected
	}
	cl.key = key
	cn.calls[key] = cl
	if key != id {
		cn.reuseQ = append(cn.reuseQ, key)
	}
	cn.mu.Unlock()
	if tm == nil {
		// Armed before the write, so the frame is never on the wire
		// without its deadline.
		tm = c.getTimer(timeout)
	}

	maybeSent, err := cn.write(frame)
	putBuf(bp)
	if err != nil && maybeSent {
		// The frame may have reached the connector before the socket
		// broke: wait for the connection's end to resolve the call as
		// lost, and ambiguous, like any other written frame.
		err = nil
	}
	if err != nil {
		if !cn.take(key) {
			<-cl.ch // resolved meanwhile by the connection's end; drain it
		}
		putCall(cl)
		c.putTimer(tm)
		// A failed write never completed the frame, so the connector
		// cannot have acted on it: not ambiguous.
		return failed("relay send failed: " + err.Error()), wrapSend(err)
	}
	var o outcome
	select {
	case o = <-cl.ch:
	case <-tm.t.C():
		tm.fired = true
		if cn.take(key) {
			o = outcome{ambiguous("relay outbound timed out"), ErrOutboundTimeout}
		} else {
			o = <-cl.ch
		}
	case <-ctx.Done():
		if cn.take(key) {
			o = outcome{ambiguous("relay outbound cancelled: " + ctx.Err().Error()), ctx.Err()}
		} else {
			o = <-cl.ch
		}
	}
	// Exactly one outcome was sent to cl.ch and it has been received, so
	// the call can be reused.
	putCall(cl)
	c.putTimer(tm)
	return o.r, o.cause
}

// callTimer is a pooled outbound timer.
type callTimer struct {
	t     clock.Timer
	fired bool // its tick was received, so its channel is empty
}

// getTimer returns a timer armed for d, reusing a pooled one when it can.
func (c *Client) getTimer(d time.Duration) *callTimer {
	if v := c.timers.Get(); v != nil {
		tm := v.(*callTimer)
		tm.fired = false
		tm.t.Reset(d)
		return tm
	}
	return &callTimer{t: c.clk.NewTimer(d)}
}

// putTimer stops tm and pools it when its channel is certainly empty: it
// was stopped before firing, or its tick was received. A timer that fired
// without being read could deliver a stale tick to its next user.
func (c *Client) putTimer(tm *callTimer) {
	if tm == nil {
		return
	}
	if tm.t.Stop() || tm.fired {
		c.timers.Put(tm)
	}
}

var callPool = sync.Pool{New: func() any { return &call{ch: make(chan outcome, 1)} }}

func getCall() *call { return callPool.Get().(*call) }

func putCall(cl *call) { callPool.Put(cl) }

// take removes a pending call and reports whether it was still pending.
func (cn *conn) take(key string) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if _, ok := cn.calls[key]; !ok {
		return false
	}
	delete(cn.calls, key)
	for i, k := range cn.reuseQ {
		if k == key {
			cn.reuseQ = append(cn.reuseQ[:i], cn.reuseQ[i+1:]...)
			break
		}
	}
	return true
}

var internalSeq atomic.Uint64

// internalID keys calls when the requestid-reuse deviation makes wire ids
// collide.
func (c *Client) internalID() string {
	n := internalSeq.Add(1)
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return "internal-" + string(b[i:])
}

func (c *Client) callDone() {
	if c.inflight.Add(-1) == 0 && c.closing.Load() {
		select {
		case c.drained <- struct{}{}:
		default:
		}
	}
}

// route resolves the frame's platform and botId tags.
func (c *Client) route(a contract.Action, cfg callConfig) (platform, botID string) {
	switch {
	case cfg.platformSet:
		platform = cfg.platform
	case a.Op == contract.OpFollowUp:
		// The reference routes a follow-up by its kind's prefix
		// ("discord.interaction_token" → discord) when that platform is
		// fronted.
		if p, _, ok := strings.Cut(a.Kind, "."); ok && c.Fronts(p) {
			platform = p
		}
	}
	if platform == "" {
		return "", ""
	}
	if cfg.botIDSet {
		return platform, cfg.botID
	}
	if id, ok := c.identity(platform); ok {
		botID = id.BotID
	}
	return platform, botID
}

// Send posts content to a chat.
func (c *Client) Send(ctx context.Context, chatID, content string, opts ...CallOption) (contract.Result, error) {
	return c.Do(ctx, contract.Action{Op: contract.OpSend, ChatID: chatID, Content: content}, opts...)
}

// Edit replaces the content of a message the gateway sent. The returned
// message id falls back to messageID when the connector sends none.
func (c *Client) Edit(ctx context.Context, chatID, messageID, content string, opts ...CallOption) (contract.Result, error) {
	r, err := c.Do(ctx, contract.Action{Op: contract.OpEdit, ChatID: chatID, MessageID: messageID, Content: content}, opts...)
	if r.Success && r.MessageID == "" {
		r.MessageID = messageID
	}
	return r, err
}

// Typing shows a typing indicator. status nil is a plain heartbeat, ""
// clears a status (Slack), anything else is a status phrase.
func (c *Client) Typing(ctx context.Context, chatID string, status *string, opts ...CallOption) (contract.Result, error) {
	return c.Do(ctx, contract.Action{Op: contract.OpTyping, ChatID: chatID, Status: status}, opts...)
}

// FollowUp answers through a platform callback such as a Discord
// interaction token; kind is e.g. "discord.interaction_token" and routes
// the frame to that platform when it is fronted.
func (c *Client) FollowUp(ctx context.Context, sessionKey, kind, content string, opts ...CallOption) (contract.Result, error) {
	return c.Do(ctx, contract.Action{Op: contract.OpFollowUp, SessionKey: sessionKey, Kind: kind, Content: content}, opts...)
}

// GetChatInfo returns a chat's name and type, accepting the connector's
// nested and flat answers. When the op is not advertised the answer is
// local: the chat id as name and "dm" as type.
func (c *Client) GetChatInfo(ctx context.Context, chatID string, opts ...CallOption) (contract.ChatInfo, contract.Result, error) {
	r, err := c.Do(ctx, contract.Action{Op: contract.OpGetChatInfo, ChatID: chatID}, opts...)
	return r.Info(chatID), r, err
}

// Draft streams a draft; final:true seals it, and the sealing result's
// message_id is the stream's message. An ambiguous seal may be retried once
// with the identical arguments: connectors treat it as idempotent.
func (c *Client) Draft(ctx context.Context, chatID string, draftID int64, content string, final bool, opts ...CallOption) (contract.Result, error) {
	return c.Do(ctx, contract.Action{Op: contract.OpDraft, ChatID: chatID, DraftID: draftID, Content: content, Final: final}, opts...)
}

// TaskCard creates or updates a task card; cardID is "turn:<anchor>".
func (c *Client) TaskCard(ctx context.Context, chatID, cardID string, chunks []any, opts ...CallOption) (contract.Result, error) {
	return c.Do(ctx, contract.Action{Op: contract.OpTaskCard, ChatID: chatID, CardID: cardID, Chunks: chunks}, opts...)
}

// TaskCardStop finalises a task card.
func (c *Client) TaskCardStop(ctx context.Context, chatID, cardID string, opts ...CallOption) (contract.Result, error) {
	return c.Do(ctx, contract.Action{Op: contract.OpTaskCardStop, ChatID: chatID, CardID: cardID}, opts...)
}

// Delete removes a message.
func (c *Client) Delete(ctx context.Context, chatID, messageID string, opts ...CallOption) (contract.Result, error) {
	return c.Do(ctx, contract.Action{Op: contract.OpDelete, ChatID: chatID, MessageID: messageID}, opts...)
}

// Media describes one send_media attachment.
type Media struct {
	// Kind is image, voice, audio, video or document.
	Kind string
	// SourceURL is a connector re-host (UploadMedia) or a public URL.
	SourceURL string
	// Caption is sent as the action's content ("" for none).
	Caption string
	// Filename is optional.
	Filename string
}

// SendMedia posts an attachment.
func (c *Client) SendMedia(ctx context.Context, chatID string, m Media, opts ...CallOption) (contract.Result, error) {
	return c.Do(ctx, contract.Action{
		Op: contract.OpSendMedia, ChatID: chatID, MediaKind: m.Kind, SourceURL: m.SourceURL,
		Content: m.Caption, Filename: m.Filename,
	}, opts...)
}

// PromptSpec describes a prompt with buttons.
type PromptSpec struct {
	Content string
	// Kind is approval, clarify or choice.
	Kind string
	// ID is the prompt id, at most 32 characters of [A-Za-z0-9_.-].
	ID      string
	Options []contract.PromptOption
	// TimeoutS is advisory only; nil omits it.
	TimeoutS *float64
}

// Prompt posts a prompt; presses come back as inbound events carrying a
// prompt_response.
func (c *Client) Prompt(ctx context.Context, chatID string, p PromptSpec, opts ...CallOption) (contract.Result, error) {
	return c.Do(ctx, contract.Action{
		Op: contract.OpPrompt, ChatID: chatID, Content: p.Content, PromptKind: p.Kind,
		PromptID: p.ID, Options: p.Options, TimeoutS: p.TimeoutS,
	}, opts...)
}

// React adds (or with remove, removes) an emoji reaction.
func (c *Client) React(ctx context.Context, chatID, messageID, emoji string, remove bool, opts ...CallOption) (contract.Result, error) {
	return c.Do(ctx, contract.Action{Op: contract.OpReact, ChatID: chatID, MessageID: messageID, Emoji: emoji, Remove: remove}, opts...)
}

// ThreadCreate opens a thread under parentChatID and returns its id: the
// result's thread_id, else its message_id. An empty name becomes "handoff";
// names are cut to 100 characters.
func (c *Client) ThreadCreate(ctx context.Context, parentChatID, name string, opts ...CallOption) (string, contract.Result, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "handoff"
	}
	r, err := c.Do(ctx, contract.Action{Op: contract.OpThreadCreate, ChatID: parentChatID, ThreadName: truncateRunes(name, 100)}, opts...)
	id := r.ThreadID
	if id == "" {
		id = r.MessageID
	}
	return id, r, err
}

// RenameCondition makes a thread_rename conditional.
type RenameCondition struct {
	// OnlyIfConnectorCreated renames only threads the connector created.
	OnlyIfConnectorCreated bool
	// OnlyIfCurrentName renames only while the thread still has this name.
	OnlyIfCurrentName string
}

// ThreadRename renames a thread; whitespace in name is collapsed and the
// name cut to 100 characters.
func (c *Client) ThreadRename(ctx context.Context, chatID, threadID, name string, cond RenameCondition, opts ...CallOption) (contract.Result, error) {
	name = truncateRunes(strings.Join(strings.Fields(name), " "), 100)
	return c.Do(ctx, contract.Action{
		Op: contract.OpThreadRename, ChatID: chatID, MessageID: threadID, ThreadName: name,
		OnlyIfConnectorCreated: cond.OnlyIfConnectorCreated, OnlyIfCurrentName: cond.OnlyIfCurrentName,
	}, opts...)
}

// Interrupt asks the connector to cancel a session's turn wherever it runs.
// It is fire-and-forget: no result comes back. reason nil is sent as null.
func (c *Client) Interrupt(ctx context.Context, sessionKey string, reason *string) error {
	if c.closing.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	cn := c.cur.Load()
	if cn == nil {
		return ErrNotConnected
	}
	if c.dev.Has(deviation.ClientReasonOmitted) {
		bp := getBuf()
		defer putBuf(bp)
		b, err := contract.AppendFrame((*bp)[:0], contract.Interrupt{SessionKey: sessionKey})
		if err != nil {
			return err
		}
		// Cut the trailing ,"reason":null} and close the object again.
		const tail = `,"reason":null}` + "\n"
		if strings.HasSuffix(string(b), tail) {
			b = append(b[:len(b)-len(tail)], "}\n"...)
		}
		*bp = b
		if err := cn.awaitHellos(); err != nil {
			return err
		}
		_, err = cn.write(b)
		return wrapSend(err)
	}
	if err := cn.awaitHellos(); err != nil {
		return err
	}
	return wrapSend(cn.writeFrame(contract.Interrupt{SessionKey: sessionKey, Reason: reason}))
}

func wrapSend(err error) error {
	if err == nil {
		return nil
	}
	return &sendError{err}
}

// sendError is a failed write; it matches ErrSendFailed and its cause.
type sendError struct{ err error }

func (e *sendError) Error() string   { return "relay send failed: " + e.err.Error() }
func (e *sendError) Unwrap() []error { return []error{ErrSendFailed, e.err} }

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}
