// Command relaysim runs the relay connector simulator: a complete connector
// of the Hermes relay contract with a control API for tests.
//
// With no arguments it listens on 127.0.0.1:8765 (a free port when that one
// is taken), keeps state in memory, enrolls a development gateway and prints
// the environment block that points a gateway at it:
//
//	GATEWAY_RELAY_URL=ws://127.0.0.1:8765/relay
//	GATEWAY_RELAY_ID=gw-dev
//	GATEWAY_RELAY_SECRET=<secret>
//	GATEWAY_RELAY_PLATFORMS=discord,telegram,slack,whatsapp
//
// Logs go to stderr. Every flag has an environment twin; run with --help
// for the list. docs/relaysim.md describes the control API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/internal/buildinfo"
	"github.com/relaykit/relaykit/internal/cli"
	"github.com/relaykit/relaykit/internal/deviation"
	"github.com/relaykit/relaykit/simulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// defaultAddr is tried first when no address is configured; a fixed port
// keeps the printed env block stable across restarts.
const defaultAddr = "127.0.0.1:8765"

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

type config struct {
	addr            string
	store           string
	storeRepair     bool
	dev             devFlag
	devOn           bool // dev mode as validate settled it
	identityTokens  listFlag
	platforms       string
	gatewayID       string
	gatewaySecret   string
	wakeURL         string
	anonymous       bool
	pingInterval    time.Duration
	pingTimeout     time.Duration
	handshake       time.Duration
	wakeCooldown    time.Duration
	duplicatePolicy string
	drainWindow     int
	authFailBurst   int
	authFailRefill  time.Duration
	mediaTTL        time.Duration
	logFormat       string
	logLevel        string
	deviate         string
	printEnv        bool
	manualClock     bool
	controlToken    string
	requireControl  bool
	oneFrame        bool
	console         devFlag // auto, or asked for
	consoleOn       bool    // the console as validate settled it
	limits          limitFlags
	fake            fakeFlags
}

// envName is the environment twin of a flag: --ping-interval reads
// RELAYSIM_PING_INTERVAL.
func envName(flagName string) string {
	return "RELAYSIM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func newFlagSet(c *config, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("relaysim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "", "`HOST:PORT` to listen on; port 0 picks a free port (default "+defaultAddr+", or a free loopback port when that is taken)")
	fs.StringVar(&c.store, "store", "mem", "where state lives, `mem|file:PATH`: mem is lost on exit; with file:PATH buffers, flips, enrollments, policies, enrollment tokens and uploaded media (in PATH.media) survive restarts")
	fs.BoolVar(&c.storeRepair, "store-repair", false, "open a damaged --store file: keep the damaged log aside as PATH.damaged-<time> (damaged media items as <id>.damaged-<time>), load every intact record, log each damaged spot, and write a fresh log; without it relaysim refuses to start on damage a crash does not explain")
	fs.Var(&c.dev, "dev", "accept any non-empty identity bearer at /relay/provision and /relay/enroll (tenant \"default\"); auto: on when no --identity-token is given and --addr is loopback; --dev with --identity-token, or on a non-loopback --addr, is refused")
	fs.Var(&c.identityTokens, "identity-token", "identity bearer accepted by provision and enroll, as `TOKEN` or TOKEN=TENANT; repeatable, or comma-separated in the env twin")
	fs.StringVar(&c.platforms, "platforms", "", "comma-separated `platforms` served (default every preset: discord,telegram,slack,whatsapp); a platform without a preset gets a generic descriptor")
	fs.StringVar(&c.gatewayID, "gateway-id", "gw-dev", "`id` of the development gateway enrolled at start; empty enrolls none")
	fs.StringVar(&c.gatewaySecret, "gateway-secret", "", "`secret` of the development gateway (default: a fresh random one, or the stored one with --store file:)")
	fs.StringVar(&c.wakeURL, "wake-url", "", "wake `URL` registered for the development gateway")
	fs.BoolVar(&c.anonymous, "allow-anonymous", false, "let upgrades without Authorization in as the development gateway (the unauthenticated dev mode of AUTH-002)")
	fs.DurationVar(&c.pingInterval, "ping-interval", 30*time.Second, "WebSocket keepalive ping interval (a `duration`); negative disables keepalive")
	fs.DurationVar(&c.pingTimeout, "ping-timeout", 60*time.Second, "close 1011 when a ping has no pong after this `duration`")
	fs.DurationVar(&c.handshake, "handshake-timeout", 30*time.Second, "close 1008 a socket that sends no fronted hello within this `duration`; negative disables")
	fs.DurationVar(&c.wakeCooldown, "wake-cooldown", 30*time.Second, "least `duration` between two wake requests of one instance")
	fs.StringVar(&c.duplicatePolicy, "duplicate-policy", "replace", "what a second socket of one instance gets, a `policy`: allow, replace (close the old 4409 replaced) or reject (close the new 4409 duplicate)")
	fs.IntVar(&c.drainWindow, "drain-window", simulator.DefaultDrainWindow, "how many replayed buffer entries (`n`) may be unacknowledged at once; 1, the default, replays one at a time as hosted connectors do; more is faster")
	fs.IntVar(&c.authFailBurst, "auth-fail-burst", simulator.DefaultAuthFailBurst, "how many failed token authentications (`n`, counted apart for upgrades, policy and media, and provision and enroll) one address or gateway id may make in a burst before further refusals become 1013 throttled closes and HTTP 429s; negative disables")
	fs.DurationVar(&c.authFailRefill, "auth-fail-refill", simulator.DefaultAuthFailRefill, "the `duration` it takes to forgive one failed authentication")
	fs.DurationVar(&c.mediaTTL, "media-ttl", time.Hour, "the `duration` uploaded media stays downloadable")
	fs.StringVar(&c.logFormat, "log-format", "text", "log `format` on stderr: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&c.deviate, "deviate", "", "comma-separated `deviations`: break these contract requirements on purpose (see docs/relaysim.md)")
	fs.BoolVar(&c.printEnv, "print-env", true, "print the development gateway's env block on stdout")
	fs.BoolVar(&c.manualClock, "manual-clock", false, "run on a clock that moves only through POST /_relaysim/clock")
	fs.StringVar(&c.controlToken, "control-token", "", "require this `token` on /_relaysim/ requests (Authorization: Bearer or X-Relaysim-Token)")
	fs.BoolVar(&c.requireControl, "require-control-token", false, "refuse to start without --control-token (the container image sets it, so a published port never exposes an open control API)")
	fs.BoolVar(&c.oneFrame, "one-frame-per-message", false, "write every frame as its own WebSocket message instead of letting frames queued together share one (TRN-005)")
	fs.Var(&c.console, "console", "serve the web console at /_relaysim/ (chat with the gateway, watch the frames, pull the levers; docs/relaysim.md#console); auto: on when --addr is loopback or --control-token is set")
	addLimitFlags(fs, &c.limits)
	addFakeFlags(fs, &c.fake)
	fs.Usage = func() { usage(fs, fs.Output()) }
	return fs
}

func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, `relaysim runs a Hermes relay connector simulator with a control API.

Usage: relaysim [flags]
       relaysim --version

With no flags it listens on loopback, keeps state in memory, enrolls the
development gateway gw-dev and prints the env block a gateway needs on
stdout. Logs go to stderr. SIGINT or SIGTERM close every socket with 1001
and flush the store. The control API under /_relaysim/ has no
authentication unless --control-token is set: keep relaysim on loopback
(it warns when it is not). Dev mode (--dev: any bearer may provision) is
on only on loopback without --identity-token. Every value is checked at
start; a bad one is a usage error (exit 2) naming the flag.
The chaos soak (docs/soak.md) is the separate command relaysoak.

Flags (each also read from the environment variable shown):
`)
	fs.VisitAll(func(f *flag.Flag) {
		name, use := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if name != "" {
			fmt.Fprintf(w, " %s", name)
		}
		fmt.Fprintf(w, "\n      %s\n      env %s", use, envName(f.Name))
		if f.DefValue != "" && f.DefValue != "[]" {
			fmt.Fprintf(w, ", default %s", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// run is main without the process: it returns the exit code, and stops
// gracefully when ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var c config
	fs := newFlagSet(&c, stderr)
	if wantsVersion(fs, args) {
		fmt.Fprint(stdout, buildinfo.Read().String("relaysim"))
		return 0
	}
	if code, ok := cli.ParseArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "relaysim: unexpected argument %q\n", fs.Arg(0))
		if fs.Arg(0) == "soak" {
			// Session 2's "relaysim soak" moved out: the connector binary links no gateway code.
			fmt.Fprintln(stderr, "relaysim: the chaos soak is the command relaysoak now (go run ./cmd/relaysoak, docs/soak.md)")
		}
		return 2
	}
	// Environment twins fill in what the command line left unset.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && !set[f.Name] && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", envName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		fmt.Fprintf(stderr, "relaysim: %v\n", envErr)
		return 2
	}

	if err := c.validate(); err != nil {
		fmt.Fprintf(stderr, "relaysim: %v\n", err)
		return 2
	}
	logger, err := newLogger(c.logFormat, c.logLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "relaysim: %v\n", err)
		return 2
	}
	c.warnExposure(logger)
	opts, err := c.options(logger)
	if err != nil {
		fmt.Fprintf(stderr, "relaysim: %v\n", err)
		if errors.As(err, new(*simulator.StoreDamageError)) {
			return 1 // not a usage error: the store needs the operator
		}
		return 2
	}
	s, err := simulator.New(opts)
	var fileErr *simulator.FileError
	if errors.As(err, &fileErr) {
		// A seed item the simulator refused: the file needs fixing.
		fmt.Fprintf(stderr, "relaysim: --seed %v\n", fileErr)
		return 2
	}
	if err != nil && c.addr == "" && opts.Addr == defaultAddr {
		// The friendly default port is taken; any free one will do, and
		// the env block says which.
		logger.Warn("relaysim: default port taken, using a free one", "addr", defaultAddr, "err", err)
		// The failed start closed the store; open it again.
		if opts, err = c.options(logger); err == nil {
			opts.Addr = "127.0.0.1:0"
			s, err = simulator.New(opts)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "relaysim: %v\n", err)
		return 1
	}
	if c.printEnv && c.gatewayID != "" {
		env, err := s.Env(c.gatewayID)
		if err != nil {
			fmt.Fprintf(stderr, "relaysim: %v\n", err)
			s.Close()
			return 1
		}
		fmt.Fprint(stdout, env)
	}
	logger.Info("relaysim: ready", "url", s.URL(), "relay", s.RelayURL(), "control", s.URL()+simulator.ControlPrefix, "devGateway", c.gatewayID)
	if u := s.ConsoleURL(); u != "" {
		// Last, and with the URL at the end of the line, so a terminal
		// shows it where the eye lands and makes it clickable.
		logger.Info("relaysim: console: open it in a browser", "url", u)
	}

	<-ctx.Done()
	logger.Info("relaysim: shutting down")
	if err := s.Close(); err != nil {
		fmt.Fprintf(stderr, "relaysim: %v\n", err)
		return 1
	}
	return 0
}

func (c *config) options(logger *slog.Logger) (simulator.Options, error) {
	opts := simulator.Options{
		Addr: c.addr, Logger: logger, DevMode: c.devOn,
		PingInterval: c.pingInterval, PingTimeout: c.pingTimeout, HandshakeTimeout: c.handshake,
		WakeCooldown: c.wakeCooldown, DrainWindow: c.drainWindow, MediaTTL: c.mediaTTL,
		AuthFailBurst: c.authFailBurst, AuthFailRefill: c.authFailRefill,
		ControlToken: c.controlToken, OneFramePerMessage: c.oneFrame,
		DisableConsole: !c.consoleOn,
	}
	if opts.Addr == "" {
		opts.Addr = defaultAddr
	}
	c.limits.apply(&opts)
	if err := c.fake.apply(&opts); err != nil {
		return opts, err
	}
	p, err := simulator.ParseDuplicatePolicy(c.duplicatePolicy)
	if err != nil {
		return opts, err
	}
	opts.DuplicatePolicy = p
	devs, err := deviation.Parse(c.deviate, deviation.Simulator)
	if err != nil {
		return opts, err
	}
	if err := deviation.Apply(&opts, devs); err != nil {
		return opts, err
	}
	if c.platforms != "" {
		var ps listFlag
		ps.Set(c.platforms)
		opts.Platforms = ps
	}
	if len(c.identityTokens) > 0 {
		opts.IdentityTokens = map[string]string{}
		for _, t := range c.identityTokens {
			token, tenant, _ := strings.Cut(t, "=")
			opts.IdentityTokens[token] = tenant
		}
	}
	if c.manualClock {
		opts.Clock = clock.NewManual(time.Now())
	}
	switch {
	case c.store == "mem" || c.store == "":
	case strings.HasPrefix(c.store, "file:") && len(c.store) > len("file:"):
		if c.storeRepair {
			logger.Warn("relaysim: --store-repair is set: damage in the store is repaired instead of refused; drop the flag once the store opened")
		}
		st, err := simulator.OpenFileStore(strings.TrimPrefix(c.store, "file:"), simulator.FileStoreOptions{Repair: c.storeRepair, Logger: logger})
		if err != nil {
			return opts, err
		}
		opts.Store = st
	default:
		return opts, fmt.Errorf("--store %q: want mem or file:PATH", c.store)
	}
	if c.storeRepair && opts.Store == nil {
		return opts, errors.New("--store-repair needs --store file:PATH")
	}
	if c.gatewayID != "" {
		opts.Gateways = []simulator.GatewaySpec{{GatewayID: c.gatewayID, Secret: c.gatewaySecret, WakeURL: c.wakeURL}}
		if c.anonymous {
			opts.AnonymousGateway = c.gatewayID
		}
	}
	return opts, nil
}

func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	ho := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, ho)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, ho)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
