package conformance

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// GatewayOptions configure a run of the gateway suite, in which the suite
// plays the connector and starts the gateway under test once per case.
type GatewayOptions struct {
	Options

	// Exec is the command that starts the gateway under test, run with
	// "sh -c" once per case. The gateway testee contract
	// (docs/conformance-guide.md) says which environment it gets.
	Exec string
	// Command is the gateway command as an argument vector; used when Exec
	// is empty.
	Command []string
	// Env adds "KEY=value" entries to the gateway's environment.
	Env []string
	// Dir is the working directory of the gateway process.
	Dir string

	// Echo declares that the gateway implements the echo profile of the
	// gateway testee contract; the cases that need it are untestable
	// otherwise.
	Echo bool
	// Timers declares that the gateway honours the RELAYKIT_* timer knobs
	// of the gateway testee contract; the cases that need short timers are
	// untestable otherwise.
	Timers bool

	// StartTimeout bounds the wait for the gateway's first handshake after
	// it starts. Default 15 s.
	StartTimeout time.Duration
}

// Environment of the gateway testee contract.
const (
	EnvCaseID           = "RELAYKIT_CASE"
	EnvBackoffBase      = "RELAYKIT_BACKOFF_BASE"
	EnvBackoffCap       = "RELAYKIT_BACKOFF_CAP"
	EnvPingInterval     = "RELAYKIT_PING_INTERVAL"
	EnvPingTimeout      = "RELAYKIT_PING_TIMEOUT"
	EnvHandshakeTimeout = "RELAYKIT_HANDSHAKE_TIMEOUT"
	EnvGoIdleTimeout    = "RELAYKIT_GO_IDLE_TIMEOUT"
	EnvStableWindow     = "RELAYKIT_STABLE_WINDOW"
	EnvTokenTTL         = "RELAYKIT_TOKEN_TTL"
)

// knob defaults the suite sets for a testee that declares Timers.
const (
	knobBackoffBase = 100 * time.Millisecond
	knobBackoffCap  = 1600 * time.Millisecond
)

type gatewayTarget struct {
	opts GatewayOptions
	argv []string
}

func newGatewayTarget(o GatewayOptions) (*gatewayTarget, error) {
	t := &gatewayTarget{opts: o}
	switch {
	case strings.TrimSpace(o.Exec) != "":
		t.argv = []string{"sh", "-c", o.Exec}
	case len(o.Command) > 0:
		t.argv = o.Command
	default:
		return nil, errors.New("give the command that starts the gateway under test (--exec)")
	}
	return t, nil
}

func (t *gatewayTarget) prepare(rs *runState) {
	for _, r := range contract.Requirements() {
		if r.Feature == "core" {
			continue
		}
		if _, done := rs.features[r.Feature]; !done {
			rs.setFeature(r.Feature, false, "not declared")
		}
	}
}

func (t *gatewayTarget) lacks(n Need) string {
	switch n {
	case NeedEcho:
		if !t.opts.Echo {
			return "the gateway does not declare the echo profile (--echo)"
		}
	case NeedTimers:
		if !t.opts.Timers {
			return "the gateway does not declare the RELAYKIT_* timer knobs (--timers)"
		}
	case NeedSignal:
		if !canSignal {
			return "this platform cannot send SIGTERM"
		}
	}
	return ""
}

func (t *gatewayTarget) setup(s *S) { s.gc = &gwCase{t: t} }

// gwCase is the gateway-side state of one case: the simulator, the front,
// and the gateway process.
type gwCase struct {
	t      *gatewayTarget
	s      *S
	sim    *simulator.Server
	clk    *clock.Manual
	f      *front
	cmd    *exec.Cmd
	exited chan struct{}
	exit   error

	gatewayID string
	secret    string
	ids       []identity
	// extraEnv is like gwConfig.Env, for values that need the front's URL
	// (set by gwConfig.Before).
	extraEnv map[string]string
}

// gwConfig shapes one gateway start.
type gwConfig struct {
	// Identities the gateway fronts; default one telegram bot.
	Identities []identity
	// Env sets or, with an empty value, unsets gateway environment
	// variables, after the defaults.
	Env map[string]string
	// URL renders GATEWAY_RELAY_URL from the front's base URL.
	URL func(base string) string
	// Sim adjusts the simulator's options.
	Sim func(o *simulator.Options)
	// Before runs after the simulator and front exist, before the gateway
	// starts.
	Before func(g *gwCase)
}

var defaultIdentity = identity{Platform: "telegram", BotID: "conform-bot-1"}

// gateway starts a simulator, the front and the gateway under test.
func (s *S) gateway(cfg gwConfig) *gwCase {
	s.rely(basicStart)
	if s.c.Needs&NeedEcho != 0 {
		// Every echo case relies on the echo round trip.
		s.rely(basicEcho)
	}
	g := s.gc
	g.s = s
	if g.sim != nil {
		s.Harness("gateway started twice in one case")
	}
	g.ids = cfg.Identities
	if len(g.ids) == 0 {
		g.ids = []identity{defaultIdentity}
	}
	g.gatewayID = "conform-gw-" + randHex(3)
	g.secret = randHex(32)
	s.tr.Redact(g.secret)
	var plats []string
	for _, id := range g.ids {
		plats = append(plats, id.Platform)
	}
	g.clk = clock.NewManual(time.Now())
	so := simulator.Options{
		Clock:        g.clk,
		PingInterval: -1,
		Gateways:     []simulator.GatewaySpec{{GatewayID: g.gatewayID, Secret: g.secret, Platforms: plats}},
	}
	if cfg.Sim != nil {
		cfg.Sim(&so)
	}
	sim, err := simulator.New(so)
	if err != nil {
		s.Harness("start the simulator: %v", err)
	}
	g.sim = sim
	s.cleanup(func() { _ = sim.Close() })
	g.f = newFront(s, sim.RelayURL(), sim.URL())
	s.cleanup(g.f.close)
	if cfg.Before != nil {
		cfg.Before(g)
	}
	g.start(cfg)
	return g
}

// env builds the gateway's environment.
func (g *gwCase) env(cfg gwConfig) []string {
	base := g.f.url()
	if cfg.URL != nil {
		base = cfg.URL(base)
	}
	var plats []string
	bots := map[string]map[string]string{}
	for _, id := range g.ids {
		plats = append(plats, id.Platform)
		bots[id.Platform] = map[string]string{"botId": id.BotID}
	}
	botJSON, _ := json.Marshal(bots)
	vars := map[string]string{
		"GATEWAY_RELAY_URL":       base,
		"GATEWAY_RELAY_ID":        g.gatewayID,
		"GATEWAY_RELAY_SECRET":    g.secret,
		"GATEWAY_RELAY_PLATFORMS": strings.Join(plats, ","),
		"GATEWAY_RELAY_BOT_IDS":   string(botJSON),
		EnvCaseID:                 g.s.c.ID,
	}
	if g.t.opts.Timers {
		vars[EnvBackoffBase] = knobBackoffBase.String()
		vars[EnvBackoffCap] = knobBackoffCap.String()
	}
	for k, v := range cfg.Env {
		vars[k] = v
	}
	for k, v := range g.extraEnv {
		vars[k] = v
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ours := vars[k]; ours || strings.HasPrefix(k, "GATEWAY_RELAY_") || strings.HasPrefix(k, "RELAYKIT_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, g.t.opts.Env...)
	for k, v := range vars {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// start runs the gateway process.
func (g *gwCase) start(cfg gwConfig) {
	s := g.s
	argv := g.t.argv
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = g.t.opts.Dir
	cmd.Env = g.env(cfg)
	setProcessGroup(cmd)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	s.tr.Event("gw", "start: %s", strings.Join(argv, " "))
	if err := cmd.Start(); err != nil {
		s.Harness("start the gateway: %v", err)
	}
	g.cmd = cmd
	g.exited = make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go g.capture(stdout, "gw-out", &wg)
	go g.capture(stderr, "gw-err", &wg)
	go func() {
		wg.Wait()
		g.exit = cmd.Wait()
		s.tr.Event("gw", "process exited: %v", exitDesc(g.exit))
		close(g.exited)
	}()
	s.cleanup(g.stop)
}

func exitDesc(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// capture copies the gateway's output into the transcript, capped.
func (g *gwCase) capture(r io.Reader, who string, wg *sync.WaitGroup) {
	defer wg.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		if n++; n <= 300 {
			g.s.tr.Event(who, "%s", truncate(sc.Text(), 400))
		}
	}
}

// stop ends the gateway process: SIGTERM, then SIGKILL after a grace.
func (g *gwCase) stop() {
	if g.cmd == nil || g.cmd.Process == nil {
		return
	}
	select {
	case <-g.exited:
		return
	default:
	}
	terminate(g.cmd)
	select {
	case <-g.exited:
	case <-time.After(3 * time.Second):
		kill(g.cmd)
		<-g.exited
	}
}

// hasExited reports whether the gateway process ended.
func (g *gwCase) hasExited() bool {
	select {
	case <-g.exited:
		return true
	default:
		return false
	}
}

// startTimeout is how long to wait for the gateway's first handshake.
func (g *gwCase) startTimeout() time.Duration { return g.t.startTimeout() }

// startTimeout is how long to wait for the gateway's first handshake.
func (t *gatewayTarget) startTimeout() time.Duration {
	if d := t.opts.StartTimeout; d > 0 {
		return d
	}
	return 15 * time.Second
}

// handshaked waits until dial n (1-based) has been answered with a
// descriptor for every identity and returns its connection.
func (g *gwCase) handshaked(n int) *gwConn {
	s := g.s
	d := s.within(2)
	if n == 1 {
		d = g.startTimeout()
	}
	var c *gwConn
	var stuckSince time.Time
	ok := g.f.await(d, func() bool {
		c = g.f.conn(n)
		if c != nil && c.descriptorCount() < len(g.ids) && c.sentUnterminated() {
			// Hellos without their newline are never processed: no
			// point waiting out the start timeout.
			if stuckSince.IsZero() {
				stuckSince = time.Now()
			}
			if time.Since(stuckSince) > unterminatedGrace {
				return true
			}
		}
		return (c != nil && c.descriptorCount() >= len(g.ids)) || g.hasExited()
	})
	if g.hasExited() {
		s.Harness("the gateway exited (%s) before handshake %d", exitDesc(g.exit), n)
	}
	if c != nil && c.descriptorCount() < len(g.ids) && c.sentUnterminated() {
		s.Failf("TRN-002", "every frame to end with \\n so the connector processes it",
			"connection %d: the gateway's messages do not end with a newline, so its hellos were never processed", n)
	}
	if !ok {
		if g.f.dialCount() < n {
			if n == 1 {
				s.Harness("the gateway did not dial within %s", d)
			}
			s.Failf("RC-004", fmt.Sprintf("dial %d", n), "%d dials within %s", g.f.dialCount(), d)
		}
		s.Failf("HS-003", fmt.Sprintf("one hello per identity (%d) on connection %d", len(g.ids), n),
			"the connector answered %d; the gateway sent %s", c.descriptorCount(), g.f.summary())
	}
	return c
}

// waitDials waits until at least n dials have happened and returns whether
// they did within d.
func (g *gwCase) waitDials(n int, d time.Duration) bool {
	return g.f.await(d, func() bool { return g.f.dialCount() >= n })
}

// inject delivers a user message to the gateway through the simulator.
func (g *gwCase) inject(m userMessage) simulator.Delivery {
	ev := eventJSON(m)
	g.s.Logf("inject %s message %s in %s/%s: %q", m.ChatType, m.MessageID, m.Platform, m.ChatID, m.Text)
	// An event without a message id must reach the gateway without one:
	// unchecked, the simulator passes it on byte for byte instead of
	// giving it an id as a platform would.
	d, err := g.sim.InjectEvent(simulator.InjectRequest{GatewayID: g.gatewayID, Event: ev, Addressed: m.Addressed, Unchecked: m.MessageID == ""})
	if err != nil {
		g.s.Harness("inject: %v", err)
	}
	g.s.Logf("delivery: %s %s", d.Mode, d.BufferID)
	return d
}

// newMessage returns a DM on the gateway's first platform.
func (g *gwCase) newMessage(text string) userMessage {
	return userMessage{Platform: g.ids[0].Platform, ChatID: "conform-chat-" + randHex(3), ChatType: "dm",
		UserID: "conform-user", Text: text, MessageID: "m-" + randHex(6)}
}

// eventJSON renders a message as a contract event object: the event of
// the control API's inbound request and of the frames the gateway suite
// writes.
func eventJSON(m userMessage) json.RawMessage {
	ev := contract.MessageEvent{Text: m.Text, MessageType: "text", MessageID: m.MessageID, MediaURLs: m.MediaURLs,
		Source: contract.SessionSource{Platform: m.Platform, ChatID: m.ChatID, ChatType: m.ChatType,
			UserID: m.UserID, UserName: "Conformance", MessageID: m.MessageID, ScopeID: m.ScopeID,
			ThreadID: m.ThreadID, IsBot: m.IsBot}}
	b, _ := json.Marshal(ev)
	return b
}

// ackFor matches the gateway's inbound_ack for bufferID.
func ackFor(bufferID string) func(gwFrame) bool {
	return func(g gwFrame) bool { return g.Type == contract.TypeInboundAck && g.str("bufferId") == bufferID }
}
