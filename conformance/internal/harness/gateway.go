package harness

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
	KnobBackoffBase = 100 * time.Millisecond
	KnobBackoffCap  = 1600 * time.Millisecond
)

type gatewayTarget struct {
	Opts GatewayOptions
	argv []string
}

func newGatewayTarget(o GatewayOptions) (*gatewayTarget, error) {
	t := &gatewayTarget{Opts: o}
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

func (t *gatewayTarget) prepare(rs *RunState) {
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
		if !t.Opts.Echo {
			return "the gateway does not declare the echo profile (--echo)"
		}
	case NeedTimers:
		if !t.Opts.Timers {
			return "the gateway does not declare the RELAYKIT_* timer knobs (--timers)"
		}
	case NeedSignal:
		if !canSignal {
			return "this platform cannot send SIGTERM"
		}
	}
	return ""
}

func (t *gatewayTarget) setup(s *S) { s.Gc = &GWCase{T: t} }

// GWCase is the gateway-side state of one case: the simulator, the front,
// and the gateway process.
type GWCase struct {
	T      *gatewayTarget
	S      *S
	Sim    *simulator.Server
	Clk    *clock.Manual
	F      *front
	Cmd    *exec.Cmd
	exited chan struct{}
	exit   error

	GatewayID string
	Secret    string
	IDs       []Identity
	// ExtraEnv is like gwConfig.Env, for values that need the front's URL
	// (set by gwConfig.Before).
	ExtraEnv map[string]string
}

// GWConfig shapes one gateway start.
type GWConfig struct {
	// Identities the gateway fronts; default one telegram bot.
	Identities []Identity
	// Env sets or, with an empty value, unsets gateway environment
	// variables, after the defaults.
	Env map[string]string
	// URL renders GATEWAY_RELAY_URL from the front's base URL.
	URL func(base string) string
	// Sim adjusts the simulator's options.
	Sim func(o *simulator.Options)
	// DrainWindow, when positive, replaces the simulator's drain window
	// (IDLE-011; default 1), so that replayed entries reach the gateway
	// back to back instead of one per ack.
	DrainWindow int
	// Before runs after the simulator and front exist, before the gateway
	// starts.
	Before func(g *GWCase)
}

var DefaultIdentity = Identity{Platform: "telegram", BotID: "conform-bot-1"}

// Gateway starts a simulator, the front and the gateway under test.
func (s *S) Gateway(cfg GWConfig) *GWCase {
	s.Rely(BasicStart)
	if s.C.Needs&NeedEcho != 0 {
		// Every echo case relies on the echo round trip.
		s.Rely(BasicEcho)
	}
	g := s.Gc
	g.S = s
	if g.Sim != nil {
		s.Harness("gateway started twice in one case")
	}
	g.IDs = cfg.Identities
	if len(g.IDs) == 0 {
		g.IDs = []Identity{DefaultIdentity}
	}
	g.GatewayID = "conform-gw-" + RandHex(3)
	g.Secret = RandHex(32)
	s.Tr.Redact(g.Secret)
	var plats []string
	for _, id := range g.IDs {
		plats = append(plats, id.Platform)
	}
	g.Clk = clock.NewManual(time.Now())
	so := simulator.Options{
		Clock:        g.Clk,
		PingInterval: -1,
		Gateways:     []simulator.GatewaySpec{{GatewayID: g.GatewayID, Secret: g.Secret, Platforms: plats}},
	}
	if cfg.DrainWindow > 0 {
		so.DrainWindow = cfg.DrainWindow
	}
	if cfg.Sim != nil {
		cfg.Sim(&so)
	}
	sim, err := simulator.New(so)
	if err != nil {
		s.Harness("start the simulator: %v", err)
	}
	g.Sim = sim
	s.Cleanup(func() { _ = sim.Close() })
	g.F = newFront(s, sim.RelayURL(), sim.URL())
	s.Cleanup(g.F.close)
	if cfg.Before != nil {
		cfg.Before(g)
	}
	g.start(cfg)
	return g
}

// env builds the gateway's environment.
func (g *GWCase) env(cfg GWConfig) []string {
	base := g.F.URL()
	if cfg.URL != nil {
		base = cfg.URL(base)
	}
	var plats []string
	bots := map[string]map[string]string{}
	for _, id := range g.IDs {
		plats = append(plats, id.Platform)
		bots[id.Platform] = map[string]string{"botId": id.BotID}
	}
	botJSON, _ := json.Marshal(bots)
	vars := map[string]string{
		"GATEWAY_RELAY_URL":       base,
		"GATEWAY_RELAY_ID":        g.GatewayID,
		"GATEWAY_RELAY_SECRET":    g.Secret,
		"GATEWAY_RELAY_PLATFORMS": strings.Join(plats, ","),
		"GATEWAY_RELAY_BOT_IDS":   string(botJSON),
		EnvCaseID:                 g.S.C.ID,
	}
	if g.T.Opts.Timers {
		vars[EnvBackoffBase] = KnobBackoffBase.String()
		vars[EnvBackoffCap] = KnobBackoffCap.String()
	}
	for k, v := range cfg.Env {
		vars[k] = v
	}
	for k, v := range g.ExtraEnv {
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
	env = append(env, g.T.Opts.Env...)
	for k, v := range vars {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// start runs the gateway process.
func (g *GWCase) start(cfg GWConfig) {
	s := g.S
	argv := g.T.argv
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = g.T.Opts.Dir
	cmd.Env = g.env(cfg)
	setProcessGroup(cmd)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	s.Tr.Event("gw", "start: %s", strings.Join(argv, " "))
	if err := cmd.Start(); err != nil {
		s.Harness("start the gateway: %v", err)
	}
	g.Cmd = cmd
	g.exited = make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go g.capture(stdout, "gw-out", &wg)
	go g.capture(stderr, "gw-err", &wg)
	go func() {
		wg.Wait()
		g.exit = cmd.Wait()
		s.Tr.Event("gw", "process exited: %v", exitDesc(g.exit))
		close(g.exited)
	}()
	s.Cleanup(g.stop)
}

func exitDesc(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// capture copies the gateway's output into the transcript, capped.
func (g *GWCase) capture(r io.Reader, who string, wg *sync.WaitGroup) {
	defer wg.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		if n++; n <= 300 {
			g.S.Tr.Event(who, "%s", Truncate(sc.Text(), 400))
		}
	}
}

// stop ends the gateway process: SIGTERM, then SIGKILL after a grace.
func (g *GWCase) stop() {
	if g.Cmd == nil || g.Cmd.Process == nil {
		return
	}
	select {
	case <-g.exited:
		return
	default:
	}
	Terminate(g.Cmd)
	select {
	case <-g.exited:
	case <-time.After(3 * time.Second):
		kill(g.Cmd)
		<-g.exited
	}
}

// hasExited reports whether the gateway process ended.
func (g *GWCase) hasExited() bool {
	select {
	case <-g.exited:
		return true
	default:
		return false
	}
}

// StartTimeout is how long to wait for the gateway's first handshake.
func (g *GWCase) StartTimeout() time.Duration { return g.T.startTimeout() }

// startTimeout is how long to wait for the gateway's first handshake.
func (t *gatewayTarget) startTimeout() time.Duration {
	if d := t.Opts.StartTimeout; d > 0 {
		return d
	}
	return 15 * time.Second
}

// Handshaked waits until dial n (1-based) has been answered with a
// descriptor for every identity and returns its connection.
func (g *GWCase) Handshaked(n int) *GWConn {
	s := g.S
	d := s.Within(2)
	if n == 1 {
		d = g.StartTimeout()
	}
	var c *GWConn
	var stuckSince time.Time
	ok := g.F.Await(d, func() bool {
		c = g.F.Conn(n)
		if c != nil && c.descriptorCount() < len(g.IDs) && c.sentUnterminated() {
			// Hellos without their newline are never processed: no
			// point waiting out the start timeout.
			if stuckSince.IsZero() {
				stuckSince = time.Now()
			}
			if time.Since(stuckSince) > unterminatedGrace {
				return true
			}
		}
		return (c != nil && c.descriptorCount() >= len(g.IDs)) || g.hasExited()
	})
	if g.hasExited() {
		s.Harness("the gateway exited (%s) before handshake %d", exitDesc(g.exit), n)
	}
	if c != nil && c.descriptorCount() < len(g.IDs) && c.sentUnterminated() {
		s.Failf("TRN-002", "every frame to end with \\n so the connector processes it",
			"connection %d: the gateway's messages do not end with a newline, so its hellos were never processed", n)
	}
	if !ok {
		if g.F.DialCount() < n {
			if n == 1 {
				s.Harness("the gateway did not dial within %s", d)
			}
			s.Failf("RC-004", fmt.Sprintf("dial %d", n), "%d dials within %s", g.F.DialCount(), d)
		}
		s.Failf("HS-003", fmt.Sprintf("one hello per identity (%d) on connection %d", len(g.IDs), n),
			"the connector answered %d; the gateway sent %s", c.descriptorCount(), g.F.Summary())
	}
	return c
}

// WaitDials waits until at least n dials have happened and returns whether
// they did within d.
func (g *GWCase) WaitDials(n int, d time.Duration) bool {
	return g.F.Await(d, func() bool { return g.F.DialCount() >= n })
}

// Inject delivers a user message to the gateway through the simulator.
func (g *GWCase) Inject(m UserMessage) simulator.Delivery {
	ev := EventJSON(m)
	g.S.Logf("inject %s message %s in %s/%s: %q", m.ChatType, m.MessageID, m.Platform, m.ChatID, m.Text)
	// An event without a message id must reach the gateway without one:
	// unchecked, the simulator passes it on byte for byte instead of
	// giving it an id as a platform would.
	d, err := g.Sim.InjectEvent(simulator.InjectRequest{GatewayID: g.GatewayID, Event: ev, Addressed: m.Addressed, Unchecked: m.MessageID == ""})
	if err != nil {
		g.S.Harness("inject: %v", err)
	}
	g.S.Logf("delivery: %s %s", d.Mode, d.BufferID)
	return d
}

// NewMessage returns a DM on the gateway's first platform.
func (g *GWCase) NewMessage(text string) UserMessage {
	return UserMessage{Platform: g.IDs[0].Platform, ChatID: "conform-chat-" + RandHex(3), ChatType: "dm",
		UserID: "conform-user", Text: text, MessageID: "m-" + RandHex(6)}
}

// EventJSON renders a message as a contract event object: the event of
// the control API's inbound request and of the frames the gateway suite
// writes.
func EventJSON(m UserMessage) json.RawMessage {
	ev := contract.MessageEvent{Text: m.Text, MessageType: "text", MessageID: m.MessageID, MediaURLs: m.MediaURLs,
		Source: contract.SessionSource{Platform: m.Platform, ChatID: m.ChatID, ChatType: m.ChatType,
			UserID: m.UserID, UserName: "Conformance", MessageID: m.MessageID, ScopeID: m.ScopeID,
			ThreadID: m.ThreadID, IsBot: m.IsBot}}
	b, _ := json.Marshal(ev)
	return b
}

// AckFor matches the gateway's inbound_ack for bufferID.
func AckFor(bufferID string) func(GWFrame) bool {
	return func(g GWFrame) bool { return g.Type == contract.TypeInboundAck && g.Str("bufferId") == bufferID }
}
