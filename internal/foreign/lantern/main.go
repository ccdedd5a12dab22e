package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "deviations" {
		// For the conformance self-check, which plants each one: one
		// line per deviation, "<name> <requirement>".
		for _, d := range deviations {
			fmt.Println(d.name, d.requirement)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, stop, os.Getenv, os.Stderr))
}

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // boot failed, or the supervisor stopped
	exitUsage   = 2 // bad configuration
	exitRevoked = 3 // the relay revoked lantern's access (RC-012)
)

var errShutdown = errors.New("lantern is shutting down")

// run is the whole program. ctx ends on the first signal; stop then
// restores the default signal behaviour, so a second signal kills.
func run(ctx context.Context, stop func(), getenv func(string) string, stderr io.Writer) int {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.TrimSpace(getenv("LANTERN_LOG_LEVEL"))))
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("gw", "lantern")
	if c := getenv("RELAYKIT_CASE"); c != "" {
		log = log.With("case", c)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		log.Error("bad configuration", "err", err)
		return exitUsage
	}
	if cfg.deviation != "" {
		log.Warn("planted deviation on", "deviation", cfg.deviation)
	}
	j, keys, err := openJournal(cfg.journalPath)
	if err != nil {
		log.Error("cannot open the admission journal", "err", err)
		return exitFailed
	}
	defer j.close()

	turnCtx, cancelTurns := context.WithCancelCause(context.Background())
	defer cancelTurns(errShutdown)
	tr := transport()
	g := &gateway{
		cfg: cfg, log: log, dev: cfg.deviation,
		http:    newHTTPClient(cfg.styles[styleSameOriginRedirects], nil),
		wsHTTP:  newHTTPClient(cfg.styles[styleSameOriginRedirects], nil),
		journal: j, seen: newRecent(1024), fwdSeen: newRecent(1024), meta: newChatMeta(4096),
		prompts: newPromptBook(), turns: newTurnTable(64), turnCtx: turnCtx,
		id: cfg.gatewayID, secret: cfg.secret,
	}
	g.http.Transport, g.wsHTTP.Transport = tr, tr
	for _, k := range keys {
		g.seen.add(k)
	}
	if g.id == "" {
		g.id = hostnameGatewayID()
	}

	if err := g.boot(ctx); err != nil {
		if ctx.Err() != nil {
			return exitOK
		}
		log.Error("boot failed", "err", err)
		return exitFailed
	}

	supCtx, cancelSup := context.WithCancel(context.Background())
	defer cancelSup()
	done := make(chan error, 1)
	go func() {
		done <- g.supervise(supCtx, func() {
			log.Info("lantern ready", "gateway_id", g.gatewayID(), "platforms", len(cfg.identities))
		})
	}()
	select {
	case <-ctx.Done():
		stop()
		log.Info("signal received; going idle")
		g.shutdown(func() { cancelTurns(errShutdown) })
		cancelSup()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		log.Info("bye")
		return exitOK
	case err := <-done:
		if errors.Is(err, errRevoked) {
			log.Error("stopped: relay revoked")
			return exitRevoked
		}
		log.Error("supervisor stopped", "err", err)
		return exitFailed
	}
}

// boot gets credentials when none are configured (enroll, else provision)
// and declares the relevance policies.
func (g *gateway) boot(ctx context.Context) error {
	if g.secretValue() == "" {
		bearer, err := g.identityBearer(ctx)
		if err != nil {
			return err
		}
		switch {
		case g.cfg.enrollToken != "":
			if err := g.enroll(ctx, bearer); err != nil {
				return err
			}
			g.log.Info("enrolled")
		case bearer != "":
			if err := g.provision(ctx, bearer); err != nil {
				return err
			}
		default:
			g.log.Warn("no secret and no way to get one: dialling without credentials")
		}
	}
	if g.secretValue() != "" {
		g.declarePolicies(ctx)
	}
	return nil
}
