// Command echogateway is the smallest complete gateway built on package
// client: it answers every inbound text with a send of the same text to the
// same chat. It is the quickest way to see the whole relay loop, and the
// reference testee of the gateway conformance suite.
//
// It reads the reference gateway's environment (GATEWAY_RELAY_URL,
// GATEWAY_RELAY_ID, GATEWAY_RELAY_SECRET, GATEWAY_RELAY_PLATFORMS,
// GATEWAY_RELAY_BOT_IDS, ...) and, if present, a Hermes-style
// config.yaml ($HERMES_HOME/config.yaml or ~/.hermes/config.yaml), runs the
// reference boot sequence, and then:
//
//   - replies "echo: <text>" to each inbound text, in the event's chat and
//     on its platform;
//   - acks buffered events once the reply is sent (the client's normal
//     admission path), so a drained backlog is answered once;
//   - cancels a session's pending reply when the connector interrupts it;
//   - on SIGTERM or SIGINT sends going_idle, waits for going_idle_ack (so
//     the connector buffers what arrives next), then closes.
//
// Try it against the simulator:
//
//	go run ./cmd/relaysim            # prints GATEWAY_RELAY_* lines
//	# in another shell, paste those lines as exports, then:
//	go run ./examples/echogateway
//
// Logs go to stderr. Extra knobs, all optional:
//
//	ECHOGATEWAY_PREFIX      reply prefix (default "echo: ")
//	ECHOGATEWAY_DELAY       wait this long before replying, e.g. 2s, so an
//	                        interrupt has something to cancel (default 0)
//	ECHOGATEWAY_LOG_LEVEL   debug, info (default), warn or error
//	ECHOGATEWAY_DEVIATIONS  comma-separated client deviations, for the
//	                        conformance suite's self-check only
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
	"github.com/relaykit/relaykit/contract"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, stop, os.Getenv, os.Stderr))
}

// run is the whole program; ctx ends on the first signal, after which stop
// restores the default signal behaviour so a second one kills at once.
func run(ctx context.Context, stop func(), getenv func(string) string, stderr io.Writer) int {
	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(strings.TrimSpace(getenv("ECHOGATEWAY_LOG_LEVEL")))); err != nil {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	devs, err := client.ParseDeviations(getenv("ECHOGATEWAY_DEVIATIONS"))
	if err != nil {
		log.Error("bad ECHOGATEWAY_DEVIATIONS", "err", err)
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

	c, rep, err := client.Boot(ctx, client.Options{
		Getenv:     getenv,
		Handler:    e,
		Logger:     log,
		Deviations: devs,
		// The timer knobs of the gateway testee contract
		// (docs/conformance-guide.md); unset means the default.
		BackoffBase:      envDuration(getenv, "RELAYKIT_BACKOFF_BASE"),
		BackoffCap:       envDuration(getenv, "RELAYKIT_BACKOFF_CAP"),
		PingInterval:     envDuration(getenv, "RELAYKIT_PING_INTERVAL"),
		PingTimeout:      envDuration(getenv, "RELAYKIT_PING_TIMEOUT"),
		HandshakeTimeout: envDuration(getenv, "RELAYKIT_HANDSHAKE_TIMEOUT"),
		GoIdleTimeout:    envDuration(getenv, "RELAYKIT_GO_IDLE_TIMEOUT"),
		StableWindow:     envDuration(getenv, "RELAYKIT_STABLE_WINDOW"),
	})
	for _, w := range rep.Warnings {
		log.Warn("config", "warning", w)
	}
	for _, s := range rep.Steps {
		log.Info("boot", "step", s.String())
	}
	if err != nil {
		log.Error("boot failed", "err", err)
		if c != nil {
			closeWithin(c, 5*time.Second, log)
		}
		if ctx.Err() != nil {
			return 0 // interrupted while still connecting
		}
		return 1
	}
	log.Info("echo gateway ready", "gateway_id", c.GatewayID(), "platforms", platforms(c))

	select {
	case <-ctx.Done():
	case <-c.Done():
		log.Error("relay client stopped", "err", c.Err())
		closeWithin(c, 5*time.Second, log)
		if errors.Is(c.Err(), client.ErrRevoked) {
			return 3
		}
		return 1
	}
	stop()

	// Drain: flip to buffered-only first, so nothing sent to us from now on
	// is lost, then close.
	log.Info("signal received; sending going_idle")
	idleCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	ok, err := c.GoIdle(idleCtx)
	cancel()
	if ok {
		log.Info("going_idle acknowledged; closing")
	} else {
		log.Warn("going_idle not acknowledged; closing anyway", "err", err)
	}
	closeWithin(c, 5*time.Second, log)
	log.Info("bye")
	return 0
}

// envDuration reads a Go duration from the environment; 0 when unset or
// invalid, which the client reads as its default.
func envDuration(getenv func(string) string, name string) time.Duration {
	d, _ := time.ParseDuration(strings.TrimSpace(getenv(name)))
	return d
}

func closeWithin(c *client.Client, d time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		log.Warn("close", "err", err)
	}
}

func platforms(c *client.Client) string {
	var ps []string
	for _, id := range c.Identities() {
		ps = append(ps, id.Platform)
	}
	return strings.Join(ps, ",")
}

// echo is the gateway's whole brain.
type echo struct {
	log    *slog.Logger
	prefix string
	delay  time.Duration
}

// HandleEvent replies to a text event. Returning nil admits the event, so
// a buffered one is acked; returning an error leaves it for a replay.
func (e *echo) HandleEvent(ctx context.Context, d *client.Delivery) error {
	ev := d.Event
	if ev.Text == "" || ev.PromptResponse != nil {
		return nil // nothing to echo; admitted all the same
	}
	log := e.log.With("session", d.SessionKey, "buffered", d.Buffered())
	log.Debug("handling event", "chat", ev.Source.ChatID, "message_id", ev.MessageID)
	c := d.Client()
	// Commands of the echo profile (gateway testee contract).
	delay := e.delay
	switch text := strings.TrimSpace(ev.Text); {
	case text == "/reject":
		return errors.New("event rejected on request (/reject)")
	case text == "/interrupt":
		reason := "requested by /interrupt"
		if err := c.Interrupt(ctx, d.SessionKey, &reason); err != nil {
			return err
		}
		return nil
	case strings.HasPrefix(text, "/slow "):
		if ms, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(text, "/slow "))); err == nil && ms > 0 {
			delay = time.Duration(ms) * time.Millisecond
		}
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return e.cancelled(ctx, log)
		}
	}
	opts := []client.CallOption{client.WithMetadata(metadata(ev.Source))}
	if c.Fronts(ev.Source.Platform) {
		opts = append(opts, client.Platform(ev.Source.Platform))
	}
	// A typing indicator first, through the client's normal op gating: a
	// descriptor without typing must keep it off the wire (HS-012).
	c.Typing(ctx, ev.Source.ChatID, nil, opts...)
	if ev.MessageID != "" {
		opts = append(opts, client.ReplyTo(ev.MessageID))
	}
	r := c.Send(ctx, ev.Source.ChatID, e.prefix+ev.Text, opts...)
	switch {
	case r.Success:
		log.Info("echoed", "chat", ev.Source.ChatID, "message_id", r.MessageID)
		return nil
	case ctx.Err() != nil:
		return e.cancelled(ctx, log)
	case r.Ambiguous:
		// It may have been delivered: replaying would risk a duplicate.
		log.Warn("echo outcome unknown", "err", r.Error)
		return nil
	case r.Declined():
		log.Warn("echo declined by the connector", "err", r.Error)
		return nil
	default:
		log.Warn("echo failed", "err", r.Error, "code", r.Code)
		return fmt.Errorf("echo failed: %s", r.Error)
	}
}

// cancelled decides what a cancelled reply means: an interrupt is the
// user's wish (the event is handled), a shutdown is not (replay it).
func (e *echo) cancelled(ctx context.Context, log *slog.Logger) error {
	if errors.Is(context.Cause(ctx), client.ErrInterrupted) {
		log.Info("reply cancelled by interrupt")
		return nil
	}
	log.Info("reply cancelled by shutdown")
	return context.Cause(ctx)
}

// HandleInterrupt only logs: the client already cancelled the session's
// running HandleEvent.
func (e *echo) HandleInterrupt(_ context.Context, sessionKey, chatID string) {
	e.log.Info("interrupt", "session", sessionKey, "chat", chatID)
}

// HandlePassthrough admits and acks raw platform requests without acting on
// them; an echo has nothing to do with a Discord interaction.
func (e *echo) HandlePassthrough(_ context.Context, d *client.PassthroughDelivery) error {
	e.log.Info("passthrough ignored", "platform", d.Forward.Platform, "path", d.Forward.Path)
	return d.Ack()
}

// metadata carries the tenant discriminators the connector authorises
// egress with.
func metadata(src contract.SessionSource) map[string]any {
	m := map[string]any{}
	if src.ScopeID != "" {
		m["scope_id"] = src.ScopeID
	}
	if src.UserID != "" {
		m["user_id"] = src.UserID
	}
	if src.Profile != "" {
		m["profile"] = src.Profile
	}
	return m
}
