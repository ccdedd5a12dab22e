package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/relaykit/relaykit/simulator"
)

var binary string

// TestMain builds the example once; every test runs it as a subprocess,
// the way a user and the conformance suite do.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "echogateway")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "echogateway")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(gobin, "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := 0
	func() {
		defer func() {
			if err := goleak.Find(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				code = 1
			}
		}()
		code = m.Run()
	}()
	os.RemoveAll(dir)
	os.Exit(code)
}

const waitFor = 10 * time.Second

// gateway is a running echogateway process.
type gateway struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	logs   bytes.Buffer
	line   chan string
	exited chan struct{} // closed when the process ended; err says how
	err    error
}

func startGateway(t *testing.T, s *simulator.Server, gatewayID string, extra ...string) *gateway {
	t.Helper()
	env, err := s.Env(gatewayID)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir() // no config.yaml: env only
	cmd := exec.Command(binary)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "HERMES_HOME=" + home},
		strings.Split(strings.TrimSpace(env), "\n")...)
	cmd.Env = append(cmd.Env, extra...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &gateway{cmd: cmd, line: make(chan string, 256), exited: make(chan struct{})}
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			g.mu.Lock()
			g.logs.WriteString(sc.Text() + "\n")
			g.mu.Unlock()
			select {
			case g.line <- sc.Text():
			default:
			}
		}
	}()
	go func() {
		<-scanDone
		g.err = cmd.Wait()
		close(g.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-g.exited:
		case <-time.After(waitFor):
		}
		if t.Failed() {
			t.Logf("echogateway stderr:\n%s", g.output())
		}
	})
	return g
}

func (g *gateway) output() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.logs.String()
}

// waitLog waits for a log line containing s.
func (g *gateway) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		if strings.Contains(g.output(), s) {
			return
		}
		select {
		case <-g.line:
		case <-deadline:
			t.Fatalf("no log line with %q", s)
		}
	}
}

func newSim(t *testing.T, platforms ...string) *simulator.Server {
	t.Helper()
	s, err := simulator.New(simulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw-echo", Platforms: platforms}); err != nil {
		t.Fatal(err)
	}
	return s
}

func event(platform, chat, msgID, text string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"text": text, "message_id": msgID,
		"source": map[string]any{"platform": platform, "chat_id": chat, "chat_type": "dm", "user_id": "u1"},
	})
	return b
}

// awaitOutbound waits until the simulator has answered n outbound actions
// other than typing indicators, which the gateway sends before each reply,
// and returns those.
func awaitOutbound(t *testing.T, s *simulator.Server, n int) []simulator.OutboundRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for {
		seq := s.JournalSeq()
		var recs []simulator.OutboundRecord
		for _, r := range s.Outbound("gw-echo") {
			if r.Op != "typing" {
				recs = append(recs, r)
			}
		}
		if len(recs) >= n {
			return recs
		}
		if _, err := s.Await(ctx, seq, nil); err != nil {
			t.Fatalf("waiting for %d outbound: %v (have %d)", n, err, len(recs))
		}
	}
}

func TestEchoLoopAndDrainOnSIGTERM(t *testing.T) {
	s := newSim(t, "telegram", "discord")
	// Sent while the gateway is away: buffered, drained when it connects.
	if d, err := s.Inject("gw-echo", event("telegram", "42", "m0", "while you were out")); err != nil || d.Mode != simulator.DeliveryBuffered {
		t.Fatalf("inject = %+v %v", d, err)
	}
	g := startGateway(t, s, "gw-echo")
	g.waitLog(t, "echo gateway ready")

	recs := awaitOutbound(t, s, 1)
	if a := actionOf(t, recs[0]); a["content"] != "echo: while you were out" || a["chat_id"] != "42" || recs[0].Platform != "telegram" {
		t.Fatalf("drained echo = %+v %s", recs[0], recs[0].Action)
	}
	waitAcked(t, s, 1)

	if _, err := s.Inject("gw-echo", event("discord", "c7", "m1", "hi")); err != nil {
		t.Fatal(err)
	}
	recs = awaitOutbound(t, s, 2)
	if a := actionOf(t, recs[1]); a["content"] != "echo: hi" || a["chat_id"] != "c7" || a["reply_to"] != "m1" || recs[1].Platform != "discord" {
		t.Fatalf("live echo = %+v %s", recs[1], recs[1].Action)
	}

	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.exited:
		if g.err != nil {
			t.Fatalf("exit: %v\n%s", g.err, g.output())
		}
	case <-time.After(waitFor):
		t.Fatal("no exit after SIGTERM")
	}
	if !strings.Contains(g.output(), "going_idle acknowledged") {
		t.Fatalf("no going_idle ack in the log:\n%s", g.output())
	}
	if !s.Flipped("gw-echo") {
		t.Fatal("the instance is not flipped to buffered-only after the drain")
	}
	// What arrives now is buffered for the next run, not lost.
	if d, _ := s.Inject("gw-echo", event("telegram", "42", "m2", "later")); d.Mode != simulator.DeliveryBuffered {
		t.Fatalf("after drain: %+v", d)
	}
}

func TestInterruptCancelsThePendingReply(t *testing.T) {
	s := newSim(t, "telegram")
	g := startGateway(t, s, "gw-echo", "ECHOGATEWAY_DELAY=1h", "ECHOGATEWAY_LOG_LEVEL=debug")
	g.waitLog(t, "echo gateway ready")
	if _, err := s.Inject("gw-echo", event("telegram", "42", "m1", "slow")); err != nil {
		t.Fatal(err)
	}
	g.waitLog(t, "handling event")
	if d, err := s.Interrupt("gw-echo", "agent:main:telegram:dm:42", "42"); err != nil || d.Mode != simulator.DeliveryLive {
		t.Fatalf("interrupt = %+v %v", d, err)
	}
	g.waitLog(t, "reply cancelled by interrupt")
	// The next message of the session is answered normally.
	if _, err := s.Inject("gw-echo", event("telegram", "42", "m2", "again")); err != nil {
		t.Fatal(err)
	}
	g.waitLog(t, "msg=\"handling event\" session=agent:main:telegram:dm:42 buffered=false chat=42 message_id=m2")
	if n := len(s.Outbound("gw-echo")); n != 0 {
		t.Fatalf("%d replies sent despite the interrupt", n)
	}
}

func actionOf(t *testing.T, rec simulator.OutboundRecord) map[string]any {
	t.Helper()
	var a map[string]any
	if err := json.Unmarshal(rec.Action, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func waitAcked(t *testing.T, s *simulator.Server, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for {
		seq := s.JournalSeq()
		if s.Acks("gw-echo").Count >= n {
			return
		}
		if _, err := s.Await(ctx, seq, nil); err != nil {
			t.Fatalf("waiting for %d acks: %v (have %+v)", n, err, s.Acks("gw-echo"))
		}
	}
}
