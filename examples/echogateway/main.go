// Command echogateway is the smallest complete gateway built on package
// client and its adapter (client/adapter): it answers every inbound text
// with "echo: <text>" in the same chat, shaped to the platform's
// descriptor, and on SIGTERM or SIGINT goes idle (going_idle, awaiting
// going_idle_ack) before it closes. It is the reference testee of the
// gateway conformance suite: the echo profile (/stream, /react, /prompt,
// /media, /attachments, /dormant, /interrupt, /slow, /reject) and the RELAYKIT_* timer knobs of
// docs/conformance-guide.md. Configuration is the reference gateway's
// (GATEWAY_RELAY_* and config.yaml, see client.LoadConfig); README.md lists
// the example's own knobs (ECHOGATEWAY_PREFIX, ECHOGATEWAY_DELAY,
// ECHOGATEWAY_LOG_LEVEL, RELAYKIT_DEVIATIONS).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/client/adapter"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, stop, os.Getenv, os.Stderr))
}

// run is the whole program; ctx ends on the first signal, after which stop
// restores the default signal behaviour so a second one kills at once.
func run(ctx context.Context, stop func(), getenv func(string) string, stderr io.Writer) int {
	var level slog.Level // info, unless the knob names another
	_ = level.UnmarshalText([]byte(strings.TrimSpace(getenv("ECHOGATEWAY_LOG_LEVEL"))))
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	devs := getenv("RELAYKIT_DEVIATIONS")
	if alias := getenv("ECHOGATEWAY_DEVIATIONS"); alias != "" {
		log.Warn("ECHOGATEWAY_DEVIATIONS is deprecated; use RELAYKIT_DEVIATIONS")
		if strings.TrimSpace(devs) == "" {
			devs = alias
		}
	}
	// The deviations are relaykit's own self-check (internal/deviation):
	// a gateway of yours has none.
	set, err := deviation.Parse(devs, deviation.Client, deviation.Adapter)
	if err != nil {
		log.Error("bad RELAYKIT_DEVIATIONS", "err", err)
		return 2
	}
	e := &echo{log: log, prefix: "echo: "}
	if p := getenv("ECHOGATEWAY_PREFIX"); p != "" {
		e.prefix = p
	}
	if d := strings.TrimSpace(getenv("ECHOGATEWAY_DELAY")); d != "" {
		if e.delay, err = time.ParseDuration(d); err != nil {
			log.Error("bad ECHOGATEWAY_DELAY", "err", err)
			return 2
		}
	}

	// TypingInterval -1: the echo sends its typing indicator itself (see
	// echo.typing), instead of the adapter's heartbeat.
	aopts := adapter.Options{Logger: log, Admit: admit, TypingInterval: -1}
	if err := deviation.Apply(&aopts, set.Only(deviation.Adapter)); err != nil {
		log.Error("bad RELAYKIT_DEVIATIONS", "err", err)
		return 2
	}
	gw := adapter.New(e.turn, aopts)
	e.meta = gw.Metadata()
	copts := client.Options{
		Getenv:  getenv,
		Handler: gw,
		Logger:  log,
		// The timer knobs of the gateway testee contract
		// (docs/conformance-guide.md); unset means the default.
		BackoffBase:      envDuration(getenv, "RELAYKIT_BACKOFF_BASE"),
		BackoffCap:       envDuration(getenv, "RELAYKIT_BACKOFF_CAP"),
		PingInterval:     envDuration(getenv, "RELAYKIT_PING_INTERVAL"),
		PingTimeout:      envDuration(getenv, "RELAYKIT_PING_TIMEOUT"),
		HandshakeTimeout: envDuration(getenv, "RELAYKIT_HANDSHAKE_TIMEOUT"),
		GoIdleTimeout:    envDuration(getenv, "RELAYKIT_GO_IDLE_TIMEOUT"),
		StableWindow:     envDuration(getenv, "RELAYKIT_STABLE_WINDOW"),
	}
	if err := deviation.Apply(&copts, set.Only(deviation.Client)); err != nil {
		log.Error("bad RELAYKIT_DEVIATIONS", "err", err)
		return 2
	}
	c, rep, err := client.Boot(ctx, copts)
	for _, w := range rep.Warnings {
		log.Warn("config", "warning", w)
	}
	for _, s := range rep.Steps {
		log.Info("boot", "step", s.String())
	}
	if err != nil {
		log.Error("boot failed", "err", err)
		closeWithin(gw, c, 5*time.Second, log)
		if ctx.Err() != nil {
			return 0 // interrupted while still connecting
		}
		return 1
	}
	log.Info("echo gateway ready", "gateway_id", c.GatewayID(), "identities", c.Identities())

	select {
	case <-ctx.Done():
	case <-c.Done():
		log.Error("relay client stopped", "err", c.Err())
		closeWithin(gw, c, 5*time.Second, log)
		if errors.Is(c.Err(), client.ErrRevoked) {
			return 3
		}
		return 1
	}
	stop()

	// Drain: flip to buffered-only first, so nothing sent to us from now on
	// is lost, then stop the turns, then close.
	log.Info("signal received; sending going_idle")
	idleCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	ok, err := c.GoIdle(idleCtx)
	cancel()
	if ok {
		log.Info("going_idle acknowledged; closing")
	} else {
		log.Warn("going_idle not acknowledged; closing anyway", "err", err)
	}
	closeWithin(gw, c, 5*time.Second, log)
	log.Info("bye")
	return 0
}

// envDuration reads a Go duration from the environment; 0 when unset or
// invalid, which the client reads as its default.
func envDuration(getenv func(string) string, name string) time.Duration {
	d, _ := time.ParseDuration(strings.TrimSpace(getenv(name)))
	return d
}

// closeWithin stops the turns (the adapter) and then the connection.
func closeWithin(gw *adapter.Gateway, c *client.Client, d time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := gw.Close(ctx); err != nil {
		log.Warn("close turns", "err", err)
	}
	if c == nil {
		return
	}
	if err := c.Close(ctx); err != nil {
		log.Warn("close", "err", err)
	}
}

// admit refuses /reject (echo profile): the event is not admitted, so a
// buffered one is never acked and replays.
func admit(_ context.Context, ev contract.MessageEvent) error {
	if strings.TrimSpace(ev.Text) == "/reject" {
		return errors.New("event rejected on request (/reject)")
	}
	return nil
}

// echo is the gateway's whole brain.
type echo struct {
	log    *slog.Logger
	prefix string
	delay  time.Duration
	meta   *adapter.MetadataStore
}

// typing is the testee contract's typing hook: one typing action before
// each answer, gated by the client alone (not by the adapter), so a client
// that sends unadvertised ops shows it on the wire.
func (e *echo) typing(ctx context.Context, t *adapter.Turn) {
	c, ok := t.Transport().(*client.Client)
	if !ok {
		return
	}
	ch := t.Chat()
	opts := []client.CallOption{client.WithMetadata(e.meta.Stamp(ch.Platform(), ch.ID(), map[string]any{}))}
	if p := ch.Platform(); c.Fronts(p) {
		opts = append(opts, client.Platform(p))
	}
	c.Typing(ctx, ch.ID(), nil, opts...)
}

// turn answers one message. The adapter splits, gates and stamps what it
// sends; an error marks the turn failed (❌).
func (e *echo) turn(ctx context.Context, t *adapter.Turn) error {
	ev := t.Event
	if ev.Text == "" {
		return nil // nothing to echo
	}
	log := e.log.With("session", t.SessionKey, "chat", ev.Source.ChatID)
	log.Debug("handling event", "message_id", ev.MessageID)
	text := strings.TrimSpace(ev.Text)
	cmd, arg, _ := strings.Cut(text, " ")
	delay := e.delay
	switch {
	case text == "/interrupt":
		reason := "requested by /interrupt"
		if c, ok := t.Transport().(*client.Client); ok {
			return c.Interrupt(ctx, t.SessionKey, &reason)
		}
		return errors.New("the transport cannot interrupt")
	case text == "/dormant":
		// Scale to zero: going_idle, and the socket closes only once the
		// ack came; without it the gateway stays connected.
		c, ok := t.Transport().(*client.Client)
		if !ok {
			return errors.New("the transport cannot go dormant")
		}
		suspended, err := c.GoDormant(ctx)
		log.Info("dormant", "suspended", suspended, "err", err)
		return nil
	case cmd == "/slow":
		if ms, err := strconv.Atoi(strings.TrimSpace(arg)); err == nil && ms > 0 {
			delay = time.Duration(ms) * time.Millisecond
		}
	}
	if delay > 0 {
		tm := time.NewTimer(delay)
		select {
		case <-tm.C:
		case <-ctx.Done():
			tm.Stop()
			return e.cancelled(ctx, log)
		}
	}
	e.typing(ctx, t)
	reply := e.prefix + ev.Text
	switch {
	case cmd == "/stream":
		s := t.Stream() // drafts, edits or segments, as the descriptor allows
		for _, w := range strings.Fields(arg) {
			if err := s.Write(ctx, w+" "); err != nil {
				return e.settle(ctx, log, adapter.Sent{}, err)
			}
		}
		sent, err := s.Close(ctx)
		return e.settle(ctx, log, sent, err)
	case text == "/react":
		if err := t.React(ctx, "👍"); err != nil && !errors.Is(err, adapter.ErrSkipped) {
			log.Warn("react failed", "err", err)
		}
	case text == "/media":
		return e.media(ctx, log, t)
	case text == "/attachments":
		reply = e.prefix + e.attachments(ctx, log, t)
	case text == "/prompt":
		a, err := t.Prompt(ctx, adapter.PromptRequest{Text: "Pick a fruit", Options: []contract.PromptOption{
			{ID: "apple", Label: "Apple"}, {ID: "banana", Label: "Banana"},
		}})
		if err != nil {
			return e.settle(ctx, log, adapter.Sent{}, err)
		}
		reply = e.prefix + "chose " + a.Label
	}
	sent, err := t.Reply(ctx, reply)
	return e.settle(ctx, log, sent, err)
}

// mediaName and mediaKind describe the file /media uploads.
const (
	mediaName = "echo.txt"
	mediaKind = "document"
)

// media answers /media: it uploads a small text file to the connector's
// media re-host and sends it to the chat (send_media where advertised,
// else a text with the link).
func (e *echo) media(ctx context.Context, log *slog.Logger, t *adapter.Turn) error {
	c, ok := t.Transport().(*client.Client)
	if !ok {
		return errors.New("the transport cannot upload media")
	}
	body := "echo media for " + t.Event.MessageID + "\n"
	link, err := c.UploadMedia(ctx, mediaName, "text/plain; charset=utf-8", []byte(body))
	if err != nil {
		return e.settle(ctx, log, adapter.Sent{}, err)
	}
	sent, err := t.SendMedia(ctx, client.Media{Kind: mediaKind, SourceURL: link, Caption: e.prefix + "media", Filename: mediaName})
	return e.settle(ctx, log, sent, err)
}

// attachments answers /attachments: it downloads each of the event's
// media_urls, in order, and reports "<n> bytes" or "failed" for each. The
// client attaches its bearer only to the connector's own re-host.
func (e *echo) attachments(ctx context.Context, log *slog.Logger, t *adapter.Turn) string {
	c, ok := t.Transport().(*client.Client)
	if !ok {
		return "/attachments: the transport cannot download media"
	}
	var parts []string
	for _, u := range t.Event.MediaURLs {
		m, err := c.DownloadMedia(ctx, u)
		if err != nil {
			log.Info("attachment download failed", "err", err)
			parts = append(parts, "failed")
			continue
		}
		parts = append(parts, strconv.Itoa(len(m.Data))+" bytes")
	}
	return "/attachments: " + strings.Join(parts, ", ")
}

// settle logs how a reply ended and decides the turn's outcome.
func (e *echo) settle(ctx context.Context, log *slog.Logger, sent adapter.Sent, err error) error {
	switch {
	case err == nil:
		log.Info("echoed", "message_id", sent.Last(), "parts", len(sent.MessageIDs))
		return nil
	case ctx.Err() != nil:
		return e.cancelled(ctx, log)
	case errors.Is(err, adapter.ErrAmbiguous):
		// It may have been delivered: sending again would risk a duplicate.
		log.Warn("echo outcome unknown", "err", err)
		return nil
	case errors.Is(err, adapter.ErrDeclined):
		log.Warn("echo declined by the connector", "err", err)
		return nil
	default:
		log.Warn("echo failed", "err", err)
		return fmt.Errorf("echo failed: %w", err)
	}
}

// cancelled logs why a reply was cancelled: an interrupt (the user's wish)
// or a shutdown. Returning the cause marks the turn cancelled.
func (e *echo) cancelled(ctx context.Context, log *slog.Logger) error {
	cause := context.Cause(ctx)
	if errors.Is(cause, client.ErrInterrupted) {
		log.Info("reply cancelled by interrupt")
	} else {
		log.Info("reply cancelled by shutdown")
	}
	return cause
}
