package badinput

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/wspeer"
)

// Creds are an enrolled gateway's id and secret.
type Creds struct {
	GatewayID string
	Secret    string
}

// Target is the connector under test.
type Target struct {
	// RelayURL is the WebSocket endpoint, e.g. ws://127.0.0.1:8765/relay.
	RelayURL string
	// BaseURL is the HTTP base URL, e.g. http://127.0.0.1:8765.
	BaseURL string
	// Platform is a platform Gateway fronts: the hello of every socket.
	Platform string
	// Chat is a chat the gateway may post to: the follow-up send that
	// proves a socket still usable goes there. Default "badinput".
	Chat string
	// UnfrontedPlatform is a platform the connector serves that Gateway
	// does not front; "" skips the entries that need one.
	UnfrontedPlatform string
	// Gateway is the gateway the entries act as; Other is a gateway of
	// another tenant.
	Gateway, Other Creds
	// Revoked is a revoked gateway with its last secret; nil skips the
	// entries that need one.
	Revoked *Creds
	// IdentityToken is an identity bearer accepted by provision and
	// enroll; "" skips those entries.
	IdentityToken string
	// Now is the connector's clock, for minting tokens. Default time.Now.
	Now func() time.Time
	// InjectBuffered makes the connector buffer one event for a gateway
	// that has no socket open and returns its buffer id; Pending reports
	// whether an entry is still in a gateway's buffer. Either nil skips the
	// entries that need them (acks of real buffer ids).
	InjectBuffered func(ctx context.Context, gatewayID string) (string, error)
	Pending        func(ctx context.Context, gatewayID, bufferID string) (bool, error)
	// HTTPClient sends the HTTP requests and upgrades. Default: a client
	// that never follows redirects.
	HTTPClient *http.Client
	// Timeout bounds every wait for a reaction. Default 5 s.
	Timeout time.Duration
	// Quiet is how long "nothing happens" is watched for. Default 300 ms.
	Quiet time.Duration
}

// Outcome results.
const (
	Pass = "pass"
	Fail = "fail"
	Skip = "skip"
)

// Stages of an entry, for attributing a failure.
const (
	StageSetup    = "setup"     // before the input: dial, hello, drain, placeholders
	StageInput    = "input"     // the input and the connector's reaction to it
	StageFollowUp = "follow-up" // the round trip that proves the socket still usable
)

// Breach is a failure attributed to a stage and, when one is known, to the
// requirement it breaks, which may differ from the entry's: a setup
// handshake that gets no descriptor breaks HS-004, whatever the entry tests.
type Breach struct {
	Stage string
	// Requirement is the requirement broken; "" for the entry's own (in
	// the input and follow-up stages) or for an unknown cause (setup).
	Requirement string
	Err         error
}

func (b *Breach) Error() string { return b.Err.Error() }
func (b *Breach) Unwrap() error { return b.Err }

func breach(stage, req string, format string, args ...any) error {
	return &Breach{Stage: stage, Requirement: req, Err: fmt.Errorf(format, args...)}
}

// Outcome is the result of one entry.
type Outcome struct {
	ID, Where, Requirement string
	Result                 string
	Detail                 string
	// Stage is where a failure happened (StageSetup, StageInput,
	// StageFollowUp); Breaks is the requirement it breaks when that is not
	// the entry's own ("" for the entry's own, or for a setup failure of
	// unknown cause).
	Stage  string
	Breaks string
	// Unshed is set on the failure of a throttle entry when the connector
	// refused every bad upgrade normally (4401) and shed none: it does not
	// throttle at that rate. The catalogue requires shedding, but the
	// contract only says how a shed connection is closed (RC-003), so a
	// conformance suite may report this as untestable rather than failed.
	Unshed bool
}

func (o Outcome) String() string {
	s := fmt.Sprintf("%s %s (%s, %s)", o.Result, o.ID, o.Requirement, o.Where)
	if o.Detail != "" {
		s += ": " + o.Detail
	}
	return s
}

type runner struct {
	t Target

	mediaOnce  sync.Once
	mediaErr   error
	mediaOwn   string
	mediaOther string
}

// Run runs entries against t in order, except that throttle entries run
// last (they exhaust the connector's patience for bad tokens), and
// returns their outcomes in the same order as entries. A connector
// throttles per address for a while, so run the catalogue once per
// connector start, or wait between runs.
func Run(ctx context.Context, t Target, entries []Entry) []Outcome {
	if t.Now == nil {
		t.Now = time.Now
	}
	if t.Timeout <= 0 {
		t.Timeout = 5 * time.Second
	}
	if t.Quiet <= 0 {
		t.Quiet = 300 * time.Millisecond
	}
	if t.Chat == "" {
		t.Chat = "badinput"
	}
	if t.HTTPClient == nil {
		t.HTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	r := &runner{t: t}
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return entries[order[a]].Reaction.Throttle == nil && entries[order[b]].Reaction.Throttle != nil
	})
	out := make([]Outcome, len(entries))
	for _, i := range order {
		e := entries[i]
		o := Outcome{ID: e.ID, Where: e.Where, Requirement: e.Requirement, Result: Pass}
		if why := r.missing(e); why != "" {
			o.Result, o.Detail = Skip, why
		} else if err := r.run(ctx, e); errors.Is(err, errThrottled) {
			o.Result, o.Detail = Skip, err.Error()
		} else if err != nil {
			o.Result, o.Detail, o.Unshed = Fail, err.Error(), errors.Is(err, errUnshed)
			o.Stage = StageInput
			var b *Breach
			if errors.As(err, &b) {
				o.Stage, o.Breaks = b.Stage, b.Requirement
			}
			if o.Breaks == e.Requirement {
				o.Breaks = ""
			}
		}
		out[i] = o
	}
	return out
}

func (r *runner) missing(e Entry) string {
	for _, n := range e.Needs {
		switch {
		case n == "identity" && r.t.IdentityToken == "":
			return "the target has no identity bearer"
		case n == "revoked" && r.t.Revoked == nil:
			return "the target has no revoked gateway"
		case n == "buffer" && (r.t.InjectBuffered == nil || r.t.Pending == nil):
			return "the target cannot buffer events on request"
		case n == "unfronted" && r.t.UnfrontedPlatform == "":
			return "the target has no unfronted platform"
		}
	}
	return ""
}

func (r *runner) run(ctx context.Context, e Entry) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	vars, err := r.vars(ctx, e)
	if err != nil {
		var b *Breach
		if errors.As(err, &b) {
			return err
		}
		return breach(StageSetup, "", "setup: %w", err)
	}
	switch e.Where {
	case WhereFrame, WhereBinary:
		return r.runSocket(ctx, e, vars)
	case WhereUpgrade:
		return r.runUpgrade(ctx, e, vars)
	case WhereHTTP:
		return r.runHTTP(ctx, e, vars)
	}
	return fmt.Errorf("unknown where %q", e.Where)
}

// vars builds the placeholders an entry uses.
func (r *runner) vars(ctx context.Context, e Entry) (map[string]string, error) {
	v := map[string]string{
		"{platform}":           r.t.Platform,
		"{unfronted_platform}": r.t.UnfrontedPlatform,
		"{gateway_id}":         r.t.Gateway.GatewayID,
		"{request_id}":         randHex(16),
	}
	raw, _ := json.Marshal(e.Input)
	if bytes.Contains(raw, []byte("media_id}")) {
		r.mediaOnce.Do(func() { r.mediaErr = r.uploadMedia(ctx) })
		if r.mediaErr != nil {
			return nil, breach(StageSetup, "HTTP-005", "setup: %w", r.mediaErr)
		}
		v["{media_id}"] = r.mediaOwn
		v["{media_id_upper}"] = strings.ToUpper(r.mediaOwn)
		v["{media_id_short}"] = r.mediaOwn[:len(r.mediaOwn)-1]
		v["{other_media_id}"] = r.mediaOther
	}
	if bytes.Contains(raw, []byte("{foreign_buffer_id}")) {
		id, err := r.t.InjectBuffered(ctx, r.t.Other.GatewayID)
		if err != nil {
			return nil, fmt.Errorf("failed to buffer an event for the other tenant: %w", err)
		}
		v["{foreign_buffer_id}"] = id
	}
	return v, nil
}

func expand(s string, vars map[string]string) string {
	for k, v := range vars {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

// token mints the bearer a recipe describes.
func (r *runner) token(rec TokenRecipe) (string, error) {
	g, now := r.t.Gateway, r.t.Now()
	switch rec.Kind {
	case "valid":
		return contract.MintTokenTTL(g.GatewayID, g.Secret, now, 5*time.Minute), nil
	case "expired":
		return contract.MintToken(g.GatewayID, g.Secret, now.Unix()-120), nil
	case "forged":
		return contract.MintTokenTTL(g.GatewayID, "badinput-not-the-secret", now, 5*time.Minute), nil
	case "other_secret":
		return contract.MintTokenTTL(g.GatewayID, r.t.Other.Secret, now, 5*time.Minute), nil
	case "unknown_gateway":
		return contract.MintTokenTTL("badinput-unknown-"+randHex(4), "some-secret", now, 5*time.Minute), nil
	case "revoked":
		return contract.MintTokenTTL(r.t.Revoked.GatewayID, r.t.Revoked.Secret, now, 5*time.Minute), nil
	case "truncated":
		t := contract.MintTokenTTL(g.GatewayID, g.Secret, now, 5*time.Minute)
		return t[:len(t)-6], nil
	case "literal":
		return rec.Value, nil
	}
	return "", fmt.Errorf("unknown token kind %q", rec.Kind)
}

// authorization is the Authorization header of an entry's request, ""
// for none.
func (r *runner) authorization(in Input, def string) (string, error) {
	switch {
	case in.Authorization == "-":
		return "", nil
	case in.Authorization != "":
		return in.Authorization, nil
	case in.Identity:
		return "Bearer " + r.t.IdentityToken, nil
	case in.Token != nil:
		t, err := r.token(*in.Token)
		return "Bearer " + t, err
	}
	if def == "" {
		return "", nil
	}
	t, err := r.token(TokenRecipe{Kind: def})
	return "Bearer " + t, err
}

// uploadMedia stores one item as the gateway and one as the other tenant.
func (r *runner) uploadMedia(ctx context.Context) error {
	up := func(c Creds) (string, error) {
		tok := contract.MintTokenTTL(c.GatewayID, c.Secret, r.t.Now(), 5*time.Minute)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(r.t.BaseURL, "/")+contract.PathMedia, strings.NewReader("badinput media of "+c.GatewayID))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set(contract.HeaderMediaFilename, "badinput.txt")
		resp, err := r.t.HTTPClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var m contract.MediaUploadResponse
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &m) != nil || len(m.ID) < 2 {
			return "", fmt.Errorf("media upload as %s answered %d %s", c.GatewayID, resp.StatusCode, b)
		}
		return m.ID, nil
	}
	var err error
	if r.mediaOwn, err = up(r.t.Gateway); err != nil {
		return err
	}
	r.mediaOther, err = up(r.t.Other)
	return err
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// --- sockets ---------------------------------------------------------------

type rxFrame struct {
	line string
	obj  map[string]json.RawMessage
}

func (f rxFrame) str(key string) string {
	var s string
	json.Unmarshal(f.obj[key], &s)
	return s
}

// sock is one WebSocket to the connector, on the module's test peer,
// whose receiver splits frames. The catalogue reads in order: a wait
// consumes every frame up to the one it matched.
type sock struct {
	c  *wspeer.Conn
	rx *wspeer.Receiver[rxFrame]
}

func (r *runner) dial(ctx context.Context, path, auth string) (*sock, *http.Response, error) {
	base := strings.TrimSuffix(r.t.RelayURL, contract.PathRelay)
	h := http.Header{}
	if auth != "" {
		h.Set("Authorization", auth)
	}
	dctx, cancel := context.WithTimeout(ctx, r.t.Timeout)
	defer cancel()
	// relaysim puts several frames in one message (up to 64 KiB); a frame
	// itself may be 1 MiB.
	c, resp, err := wspeer.Dial(dctx, base+path, wspeer.Options{Header: h, HTTPClient: r.t.HTTPClient, ReadLimit: 4 << 20})
	if err != nil {
		return nil, resp, err
	}
	rx := wspeer.Receive(c, wspeer.ReceiveOptions[rxFrame]{
		MaxFrameSize: 4 << 20,
		Decode: func(line []byte) rxFrame {
			f := rxFrame{line: string(line)}
			json.Unmarshal(line, &f.obj)
			return f
		},
	})
	return &sock{c: c, rx: rx}, resp, nil
}

func (s *sock) send(ctx context.Context, binary bool, b []byte) error {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return s.c.Write(wctx, b, binary)
}

func (s *sock) sendText(ctx context.Context, text string) error {
	return s.send(ctx, false, []byte(text))
}

func (s *sock) isClosed() bool {
	select {
	case <-s.rx.Done():
		return true
	default:
		return false
	}
}

func (s *sock) closeDesc() string {
	e, _ := s.rx.Ended()
	if e.Code == -1 {
		return fmt.Sprintf("connection lost (%v)", e.Err)
	}
	return fmt.Sprintf("close %d %q", e.Code, e.Reason)
}

// expect waits for a frame matching match, consuming frames up to it.
func (s *sock) expect(ctx context.Context, d time.Duration, what string, match func(rxFrame) bool) (rxFrame, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		changed := s.rx.Changed()
		if f, ok := s.rx.TakeThrough(match); ok {
			return f, nil
		}
		select {
		case <-changed:
		case <-s.rx.Done():
			// Frames read before the close still count.
			if f, ok := s.rx.TakeThrough(match); ok {
				return f, nil
			}
			return rxFrame{}, fmt.Errorf("waiting for %s: the socket ended: %s", what, s.closeDesc())
		case <-timer.C:
			return rxFrame{}, fmt.Errorf("no %s within %s", what, d)
		case <-ctx.Done():
			return rxFrame{}, ctx.Err()
		}
	}
}

// any reports whether a frame matching match has arrived, without
// consuming it.
func (s *sock) any(match func(rxFrame) bool) (rxFrame, bool) {
	return s.rx.Find(match)
}

// awaitClose waits for the socket to end and returns its close.
func (s *sock) awaitClose(ctx context.Context, d time.Duration) (int, string, bool) {
	select {
	case <-s.rx.Done():
		e, _ := s.rx.Ended()
		return e.Code, e.Reason, true
	case <-time.After(d):
		return 0, "", false
	case <-ctx.Done():
		return 0, "", false
	}
}

func ofType(typ string) func(rxFrame) bool {
	return func(f rxFrame) bool { return f.str("type") == typ }
}

func descriptorFor(platform string) func(rxFrame) bool {
	return func(f rxFrame) bool {
		if f.str("type") != contract.TypeDescriptor {
			return false
		}
		var d struct {
			Platform string `json:"platform"`
		}
		json.Unmarshal(f.obj["descriptor"], &d)
		return d.Platform == platform
	}
}

func resultFor(id string) func(rxFrame) bool {
	return func(f rxFrame) bool { return f.str("type") == contract.TypeOutboundResult && f.str("requestId") == id }
}

// hello sends a hello for platform and waits for its descriptor. A
// missing descriptor breaks HS-004, one for another platform HS-013.
func (r *runner) hello(ctx context.Context, s *sock, platform string) error {
	if err := s.sendText(ctx, fmt.Sprintf(`{"type":"hello","platform":%q,"botId":""}`+"\n", platform)); err != nil {
		return breach(StageSetup, "HS-004", "hello: %w", err)
	}
	f, err := s.expect(ctx, r.t.Timeout, "descriptor for "+platform, ofType(contract.TypeDescriptor))
	if err != nil {
		return breach(StageSetup, "HS-004", "%w", err)
	}
	var d struct {
		Platform string `json:"platform"`
	}
	json.Unmarshal(f.obj["descriptor"], &d)
	if d.Platform != platform {
		return breach(StageSetup, "HS-013", "the hello for %q was answered with a descriptor for %q", platform, d.Platform)
	}
	return nil
}

// usable proves the socket still works with a round trip: an outbound
// answered by its result on a handshaked socket, else a hello answered by
// a descriptor.
func (r *runner) usable(ctx context.Context, s *sock, handshaked bool) error {
	if s.isClosed() {
		return fmt.Errorf("the socket was closed: %s", s.closeDesc())
	}
	if !handshaked {
		if err := r.hello(ctx, s, r.t.Platform); err != nil {
			return breach(StageFollowUp, "", "after the input, the follow-up hello failed: %v", err)
		}
		return nil
	}
	id := randHex(16)
	chat, _ := json.Marshal(r.t.Chat)
	msg := fmt.Sprintf(`{"type":"outbound","requestId":%q,"action":{"op":"send","chat_id":%s,"content":"still there?","reply_to":null,"metadata":{}}}`+"\n", id, chat)
	if err := s.sendText(ctx, msg); err != nil {
		return breach(StageFollowUp, "", "after the input, the follow-up send could not be written: %v", err)
	}
	if _, err := s.expect(ctx, r.t.Timeout, "the follow-up send's result", resultFor(id)); err != nil {
		return breach(StageFollowUp, "", "after the input, a send to chat %s got no result: %v", chat, err)
	}
	return nil
}

func (r *runner) checkReply(f rxFrame, rp Reply, vars map[string]string) error {
	if rp.Type != contract.TypeOutboundResult {
		return nil
	}
	var res map[string]json.RawMessage
	if err := json.Unmarshal(f.obj["result"], &res); err != nil {
		return fmt.Errorf("outbound_result without an object result: %s", f.line)
	}
	var ok bool
	if err := json.Unmarshal(res["success"], &ok); err != nil {
		return fmt.Errorf("result without boolean success: %s", f.line)
	}
	if rp.Success != nil && ok != *rp.Success {
		return fmt.Errorf("result success %v, want %v: %s", ok, *rp.Success, f.line)
	}
	var code, msg string
	json.Unmarshal(res["code"], &code)
	json.Unmarshal(res["error"], &msg)
	if rp.Code != "" && code != rp.Code {
		return fmt.Errorf("result code %q, want %q: %s", code, rp.Code, f.line)
	}
	if want := expand(rp.ErrorContains, vars); want != "" && !strings.Contains(msg, want) {
		return fmt.Errorf("result error %q does not name %q", msg, want)
	}
	return nil
}

func (r *runner) replyMatch(rp Reply, vars map[string]string) (string, func(rxFrame) bool) {
	switch rp.Type {
	case contract.TypeOutboundResult:
		id := expand(rp.RequestID, vars)
		return "outbound_result for " + id, resultFor(id)
	case contract.TypeDescriptor:
		p := expand(rp.Platform, vars)
		return "descriptor for " + p, descriptorFor(p)
	}
	return rp.Type, ofType(rp.Type)
}

// runSocket runs a ws_frame or ws_binary entry.
func (r *runner) runSocket(ctx context.Context, e Entry, vars map[string]string) error {
	setup := e.Setup
	if setup == "" {
		setup = SetupHandshake
	}
	var acked string
	if setup == SetupDrained {
		id, err := r.t.InjectBuffered(ctx, r.t.Gateway.GatewayID)
		if err != nil {
			return breach(StageSetup, "", "setup: failed to buffer an event: %w", err)
		}
		acked = id
		vars["{acked_buffer_id}"] = id
	}
	auth, _ := r.authorization(Input{}, "valid")
	s, resp, err := r.dial(ctx, contract.PathRelay, auth)
	if err != nil {
		req := ""
		if resp != nil {
			req = "AUTH-005" // a valid token's upgrade refused
		}
		return breach(StageSetup, req, "setup: dial with a valid token: %v (%s)", err, status(resp))
	}
	defer s.c.CloseNow()
	handshaked := setup != SetupNone
	if handshaked {
		if err := r.hello(ctx, s, r.t.Platform); err != nil {
			return err
		}
	}
	if setup == SetupDrained {
		// Ack every replay until ours came, then wait for the release.
		for {
			f, err := s.expect(ctx, r.t.Timeout, "the buffered event's replay", func(f rxFrame) bool { return f.str("bufferId") != "" })
			if err != nil {
				return breach(StageSetup, "IDLE-009", "setup: %w", err)
			}
			if err := s.sendText(ctx, fmt.Sprintf(`{"type":"inbound_ack","bufferId":%q}`+"\n", f.str("bufferId"))); err != nil {
				return breach(StageSetup, "", "setup: ack: %w", err)
			}
			if f.str("bufferId") == acked {
				break
			}
		}
		if err := r.until(ctx, func() (bool, error) {
			p, err := r.t.Pending(ctx, r.t.Gateway.GatewayID, acked)
			return !p, err
		}); err != nil {
			return breach(StageSetup, "IDLE-010", "setup: the ack did not release the entry: %w", err)
		}
	}

	// Send the input.
	switch {
	case e.Where == WhereBinary:
		b, err := base64.StdEncoding.DecodeString(e.Input.Base64)
		if err != nil {
			return fmt.Errorf("bad base64 in the catalogue: %w", err)
		}
		if err := s.send(ctx, true, []byte(expand(string(b), vars))); err != nil && e.Reaction.Close == nil {
			return fmt.Errorf("send: %w", err)
		}
	case e.Input.Generate != nil:
		g := e.Input.Generate
		frame := generated(g.Size)
		if g.Kind == "send" {
			frame = generatedSend(g.Size, vars["{request_id}"], r.t.Chat)
		}
		if g.Newline {
			frame = append(frame, '\n')
		}
		chunk := g.Chunk
		if chunk <= 0 {
			chunk = len(frame)
		}
		for off := 0; off < len(frame); off += chunk {
			if err := s.send(ctx, false, frame[off:min(off+chunk, len(frame))]); err != nil {
				if e.Reaction.Close != nil {
					break // closed while we were still sending: judged below
				}
				return fmt.Errorf("send: %w", err)
			}
		}
	default:
		for _, m := range e.Input.Messages {
			if err := s.sendText(ctx, expand(m, vars)); err != nil {
				if e.Reaction.Close != nil {
					break
				}
				return fmt.Errorf("send: %w", err)
			}
		}
	}

	re := e.Reaction
	switch {
	case re.Close != nil:
		within := r.t.Timeout
		if re.Close.Code == contract.ClosePolicyViolation {
			within = max(within, 35*time.Second) // HS-014 allows 30 s
		}
		code, reason, ok := s.awaitClose(ctx, within)
		if !ok {
			return fmt.Errorf("the socket stayed open; want close %d %q", re.Close.Code, re.Close.Reason)
		}
		if code != re.Close.Code || (re.Close.Reason != "" && reason != re.Close.Reason) {
			return fmt.Errorf("closed %d %q; want %d %q", code, reason, re.Close.Code, re.Close.Reason)
		}
		return nil
	case re.Ignored:
		if code, reason, closed := s.awaitClose(ctx, r.t.Quiet); closed {
			return fmt.Errorf("closed %d %q; the input must be ignored", code, reason)
		}
		forbidden := func(f rxFrame) bool {
			if len(re.MustNotSend) == 0 {
				return true
			}
			return slices.Contains(re.MustNotSend, f.str("type"))
		}
		if f, bad := s.any(forbidden); bad {
			return fmt.Errorf("the input was answered, not ignored: %s", f.line)
		}
		if err := r.usable(ctx, s, handshaked); err != nil {
			return err
		}
	case re.Reply != nil:
		what, match := r.replyMatch(*re.Reply, vars)
		f, err := s.expect(ctx, r.t.Timeout, what, match)
		if err != nil {
			return err
		}
		if err := r.checkReply(f, *re.Reply, vars); err != nil {
			return err
		}
		if err := r.usable(ctx, s, true); err != nil {
			return err
		}
	case re.Deferred != nil:
		what, match := r.replyMatch(re.Deferred.Reply, vars)
		time.Sleep(r.t.Quiet) // the absence of a reaction is what is tested
		if f, early := s.any(match); early {
			return fmt.Errorf("acted on a frame before its newline arrived: %s", f.line)
		}
		if s.isClosed() {
			return fmt.Errorf("closed on a frame without its newline: %s", s.closeDesc())
		}
		if err := s.sendText(ctx, re.Deferred.CompleteWith); err != nil {
			return err
		}
		f, err := s.expect(ctx, r.t.Timeout, what+" once the newline came", match)
		if err != nil {
			return err
		}
		if err := r.checkReply(f, re.Deferred.Reply, vars); err != nil {
			return err
		}
	default:
		return fmt.Errorf("reaction not applicable to %s", e.Where)
	}
	if re.ForeignUnaffected {
		id := vars["{foreign_buffer_id}"]
		pending, err := r.t.Pending(ctx, r.t.Other.GatewayID, id)
		if err != nil {
			return err
		}
		if !pending {
			return fmt.Errorf("the other tenant's buffer entry %s was released by this gateway's ack", id)
		}
	}
	return nil
}

// until polls cond until it holds or the timeout passes.
func (r *runner) until(ctx context.Context, cond func() (bool, error)) error {
	deadline := time.Now().Add(r.t.Timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", r.t.Timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// generatedSend is an outbound send of requestID to chat, exactly size
// bytes, padded in a metadata key.
func generatedSend(size int, requestID, chat string) []byte {
	c, _ := json.Marshal(chat)
	head := fmt.Sprintf(`{"type":"outbound","requestId":%q,"action":{"op":"send","chat_id":%s,"content":"badinput: the largest frame","reply_to":null,"metadata":{"badinput_pad":"`, requestID, c)
	const tail = `"}}}`
	n := max(size-len(head)-len(tail), 0)
	b := make([]byte, 0, size+1)
	b = append(b, head...)
	b = append(b, bytes.Repeat([]byte("a"), n)...)
	return append(b, tail...)
}

// generated is a JSON object of an unknown type, exactly size bytes.
func generated(size int) []byte {
	const head, tail = `{"type":"badinput_padding","pad":"`, `"}`
	n := max(size-len(head)-len(tail), 0)
	b := make([]byte, 0, size+1)
	b = append(b, head...)
	b = append(b, bytes.Repeat([]byte("a"), n)...)
	return append(b, tail...)
}

func status(resp *http.Response) string {
	if resp == nil {
		return "no HTTP response"
	}
	return fmt.Sprintf("HTTP %d", resp.StatusCode)
}

// runUpgrade runs a ws_upgrade entry.
func (r *runner) runUpgrade(ctx context.Context, e Entry, vars map[string]string) error {
	path := e.Input.Path
	if path == "" {
		path = contract.PathRelay
	}
	re := e.Reaction
	repeat := max(e.Input.Repeat, 1)
	throttled := 0
	for i := 0; i < repeat; i++ {
		auth, err := r.authorization(e.Input, "")
		if err != nil {
			return err
		}
		s, resp, err := r.dial(ctx, expand(path, vars), auth)
		if re.HTTP != nil {
			if err == nil {
				s.c.CloseNow()
				return fmt.Errorf("the upgrade succeeded; want %s", StatusWords(re.HTTP))
			}
			if resp == nil || !statusOK(re.HTTP, resp.StatusCode) {
				return fmt.Errorf("upgrade answered %s; want %s", status(resp), StatusWords(re.HTTP))
			}
			return nil
		}
		if err != nil {
			return breach(StageInput, "AUTH-010", "the upgrade was refused (%v, %s); a token problem must complete the upgrade and then close", err, status(resp))
		}
		code, reason, ok := s.awaitClose(ctx, r.t.Timeout)
		s.c.CloseNow()
		if !ok {
			return fmt.Errorf("the socket stayed open; want a close")
		}
		if f, sent := s.any(func(rxFrame) bool { return true }); sent {
			return breach(StageInput, "AUTH-011", "a frame came before the close: %s", f.line)
		}
		switch {
		case re.Close != nil:
			if code != re.Close.Code || (re.Close.Reason != "" && reason != re.Close.Reason) {
				return fmt.Errorf("closed %d %q; want %d %q", code, reason, re.Close.Code, re.Close.Reason)
			}
			return nil
		case re.Throttle != nil:
			switch {
			case code == re.Throttle.Code && (re.Throttle.Reason == "" || reason == re.Throttle.Reason):
				throttled++
			case code == contract.CloseUnauthorized:
				// A refusal in the flood is still a refusal: its reason
				// is AUTH-010's, whatever the connector thinks of the
				// rate.
				if want := floodReason(e.Input.Token); reason != want {
					return breach(StageInput, "AUTH-010", "attempt %d closed 4401 %q; a refused token is closed 4401 %q", i+1, reason, want)
				}
			default:
				return fmt.Errorf("attempt %d closed %d %q; want 4401 or %d", i+1, code, reason, re.Throttle.Code)
			}
			if throttled >= 3 {
				i = repeat // enough: the flood is being shed
			}
		}
	}
	if re.Throttle == nil {
		return fmt.Errorf("reaction not applicable to %s", e.Where)
	}
	if throttled == 0 {
		return fmt.Errorf("%d bad upgrades in a row, none closed %d %q: %w", repeat, re.Throttle.Code, re.Throttle.Reason, errUnshed)
	}
	// Other tenants, and the gateway the flood named, still connect.
	for _, c := range []Creds{r.t.Other, r.t.Gateway} {
		tok := contract.MintTokenTTL(c.GatewayID, c.Secret, r.t.Now(), 5*time.Minute)
		s, resp, err := r.dial(ctx, contract.PathRelay, "Bearer "+tok)
		if err != nil {
			return fmt.Errorf("after the flood %s could not dial: %v (%s)", c.GatewayID, err, status(resp))
		}
		err = r.hello(ctx, s, r.t.Platform)
		s.c.Close(contract.CloseNormal, "")
		if err != nil {
			return fmt.Errorf("after the flood %s could not handshake: %w", c.GatewayID, err)
		}
	}
	return nil
}

// floodReason is the 4401 reason AUTH-010 gives the flood's token.
func floodReason(t *TokenRecipe) string {
	if t != nil && t.Kind == "expired" {
		return contract.ReasonExpired
	}
	return contract.ReasonUnauthorized
}

// errThrottled marks an entry whose valid request the connector kept
// throttling: it cannot be judged now.
var errThrottled = errors.New("throttled")

// errUnshed marks a flood the connector did not shed at all.
var errUnshed = errors.New("the connector shed none of them")

// StatusWords renders the statuses an HTTP reaction accepts.
func StatusWords(h *HTTPReaction) string {
	if h.Any4xx {
		return "a 4xx status"
	}
	var ss []string
	for _, st := range statuses(h) {
		ss = append(ss, fmt.Sprint(st))
	}
	return "HTTP " + strings.Join(ss, " or ")
}

func statuses(h *HTTPReaction) []int {
	if h.Status != 0 {
		return append([]int{h.Status}, h.Statuses...)
	}
	return h.Statuses
}

func statusOK(h *HTTPReaction, got int) bool {
	if h.Any4xx && got >= 400 && got < 500 {
		return true
	}
	for _, s := range statuses(h) {
		if s == got {
			return true
		}
	}
	return false
}

// filler streams n bytes of "a" without holding them.
type filler struct{ n int64 }

func (f *filler) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), f.n)
	for i := range p[:k] {
		p[i] = 'a'
	}
	f.n -= k
	return int(k), nil
}

// runHTTP runs an http entry. A request with the target's valid identity
// bearer answered 429 with Retry-After (HTTP-025: a connector may bound how
// fast a tenant provisions) is retried after the wait, a few times; when
// the throttle does not lift the entry is skipped, not failed.
func (r *runner) runHTTP(ctx context.Context, e Entry, vars map[string]string) error {
	in := e.Input
	do := func() (*http.Response, error) {
		var body io.Reader
		size := int64(-1)
		switch {
		case in.BodySize > 0:
			body, size = &filler{in.BodySize}, in.BodySize
		case in.Body != "":
			b := expand(in.Body, vars)
			body, size = strings.NewReader(b), int64(len(b))
		default:
			size = 0
		}
		req, err := http.NewRequestWithContext(ctx, in.Method, strings.TrimRight(r.t.BaseURL, "/")+"/", body)
		if err != nil {
			return nil, err
		}
		req.URL.Opaque = expand(in.Path, vars) // verbatim, unclean segments included
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
		for k, v := range in.Headers {
			req.Header.Set(k, expand(v, vars))
		}
		def := ""
		if strings.HasPrefix(in.Path, contract.PathPolicy) || strings.HasPrefix(in.Path, contract.PathMedia) {
			def = "valid"
		}
		auth, err := r.authorization(in, def)
		if err != nil {
			return nil, err
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := r.t.HTTPClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("request failed: %w", err)
		}
		return resp, nil
	}
	var resp *http.Response
	for try := 0; ; try++ {
		var err error
		if resp, err = do(); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusTooManyRequests || !in.Identity {
			break
		}
		wait := time.Second
		if n, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && n > 0 {
			wait = time.Duration(n) * time.Second
		}
		resp.Body.Close()
		if try == 2 || wait > 5*time.Second {
			return fmt.Errorf("the connector throttles provisioning with a valid identity bearer (HTTP-025): %w", errThrottled)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	h := e.Reaction.HTTP
	if h == nil {
		return fmt.Errorf("reaction not applicable to http")
	}
	if !statusOK(h, resp.StatusCode) {
		return fmt.Errorf("answered %d %.200s; want %s", resp.StatusCode, b, StatusWords(h))
	}
	if resp.StatusCode < 400 {
		return nil
	}
	var eb map[string]json.RawMessage
	var msg string
	if json.Unmarshal(b, &eb) != nil || json.Unmarshal(eb["error"], &msg) != nil || msg == "" {
		return breach(StageInput, "HTTP-006", "the %d answer's body is not {\"error\": \"<message>\"}: %.200s", resp.StatusCode, b)
	}
	return nil
}
