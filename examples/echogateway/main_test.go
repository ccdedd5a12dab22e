package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/relaykit/relaykit/client/adapter"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
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
	gobin := "go" // from PATH, as go test itself was run
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
		case <-time.After(testkit.Wait):
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
	deadline := time.After(testkit.Wait)
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
	return newSimWith(t, simulator.Options{}, platforms...)
}

// newSimWith is newSim with simulator options, for example descriptors.
func newSimWith(t *testing.T, o simulator.Options, platforms ...string) *simulator.Server {
	t.Helper()
	s, err := simulator.New(o)
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

// awaitOutbound waits until the simulator has answered n send actions and
// returns those. Only sends count: the typing indicators and the 👀/✅
// reactions that go with each turn would make counts racy.
func awaitOutbound(t *testing.T, s *simulator.Server, n int) []simulator.OutboundRecord {
	t.Helper()
	return awaitOps(t, s, n, contract.OpSend)
}

// awaitOps waits until the simulator has answered n actions with one of
// ops, and returns those.
func awaitOps(t *testing.T, s *simulator.Server, n int, ops ...string) []simulator.OutboundRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	for {
		seq := s.JournalSeq()
		recs := answered(s, ops...)
		if len(recs) >= n {
			return recs
		}
		if _, err := s.Await(ctx, seq, nil); err != nil {
			t.Fatalf("waiting for %d %v: %v (have %d)", n, ops, err, len(recs))
		}
	}
}

// answered returns the answered outbound records with one of ops.
func answered(s *simulator.Server, ops ...string) []simulator.OutboundRecord {
	var recs []simulator.OutboundRecord
	for _, r := range s.Outbound("gw-echo") {
		if r.Answered && slices.Contains(ops, r.Op) {
			recs = append(recs, r)
		}
	}
	return recs
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
	case <-time.After(testkit.Wait):
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
	g.waitLog(t, "msg=\"handling event\" session=agent:main:telegram:dm:42 chat=42 message_id=m2")
	for _, r := range s.Outbound("gw-echo") {
		if r.Op == contract.OpSend {
			t.Fatalf("a reply sent despite the interrupt: %s", r.Action)
		}
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
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
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

// descriptor is a test platform's descriptor: the given limit, unit and
// ops, edits and drafts as given.
func descriptor(platform string, limit int, unit string, edit, drafts bool, ops ...string) contract.CapabilityDescriptor {
	return contract.CapabilityDescriptor{
		ContractVersion: 1, Platform: platform, Label: platform, MaxMessageLength: limit, MarkdownDialect: "plain",
		LenUnit: unit, SupportsEdit: edit, SupportsDraftStreaming: drafts, SupportedOps: ops,
	}
}

func contents(t *testing.T, recs []simulator.OutboundRecord, chat string) []string {
	t.Helper()
	var out []string
	for _, r := range recs {
		if a := actionOf(t, r); a["chat_id"] == chat {
			out = append(out, fmt.Sprint(a["content"]))
		}
	}
	return out
}

func TestLongRepliesAreSplitInTheDescriptorsUnit(t *testing.T) {
	s := newSimWith(t, simulator.Options{Descriptors: map[string]contract.CapabilityDescriptor{
		"telegram": descriptor("telegram", 64, contract.LenUnitUTF16, true, false, contract.LegacyOps...),
	}}, "telegram")
	g := startGateway(t, s, "gw-echo")
	g.waitLog(t, "echo gateway ready")
	text := strings.Repeat("😀a", 60) // 120 code points, 180 UTF-16 units
	if _, err := s.Inject("gw-echo", event("telegram", "42", "m1", text)); err != nil {
		t.Fatal(err)
	}
	g.waitLog(t, "msg=echoed")
	parts := contents(t, answered(s, contract.OpSend), "42")
	if len(parts) < 3 {
		t.Fatalf("%d parts for 186 UTF-16 units at 64: %q", len(parts), parts)
	}
	for _, p := range parts {
		if n := adapter.Length(p, contract.LenUnitUTF16); n > 64 {
			t.Errorf("part of %d UTF-16 units: %q", n, p)
		}
	}
	if got := adapter.Join(parts, 64); got != "echo: "+text {
		t.Errorf("the parts re-join to %q", got)
	}
}

func TestStreamFollowsTheDescriptor(t *testing.T) {
	s := newSimWith(t, simulator.Options{Descriptors: map[string]contract.CapabilityDescriptor{
		"telegram": descriptor("telegram", 4096, contract.LenUnitUTF16, true, true, append(contract.LegacyOps, contract.OpDraft)...),
		"discord":  descriptor("discord", 2000, contract.LenUnitChars, true, false, contract.LegacyOps...),
		"slack":    descriptor("slack", 2000, contract.LenUnitChars, false, false, contract.LegacyOps...),
	}}, "telegram", "discord", "slack")
	g := startGateway(t, s, "gw-echo")
	g.waitLog(t, "echo gateway ready")
	for i, p := range []string{"telegram", "discord", "slack"} {
		if _, err := s.Inject("gw-echo", event(p, "c-"+p, fmt.Sprint("m", i), "/stream one two three")); err != nil {
			t.Fatal(err)
		}
	}
	// Drafts on telegram, sealed by a final draft; a send then edits on
	// discord; one send on slack, which cannot edit.
	var seal, edit, slack []string
	testkit.Eventually(t, "the three streams", func() bool {
		seal, edit, slack = nil, nil, nil
		for _, r := range answered(s, contract.OpDraft, contract.OpEdit, contract.OpSend) {
			a := actionOf(t, r)
			switch {
			case r.Op == contract.OpDraft && a["final"] == true:
				seal = append(seal, fmt.Sprint(a["content"]))
			case r.Op == contract.OpEdit && a["chat_id"] == "c-discord":
				edit = append(edit, fmt.Sprint(a["content"]))
			case r.Op == contract.OpSend && a["chat_id"] == "c-slack":
				slack = append(slack, fmt.Sprint(a["content"]))
			case r.Op == contract.OpSend && a["chat_id"] == "c-telegram":
				t.Fatalf("a send on telegram, which streams drafts: %s", r.Action)
			case r.Op == contract.OpEdit:
				t.Fatalf("an edit outside discord: %s", r.Action)
			}
		}
		return len(seal) == 1 && len(slack) == 1 && len(edit) > 0 && strings.TrimSpace(edit[len(edit)-1]) == "one two three"
	})
	if strings.TrimSpace(seal[0]) != "one two three" || strings.TrimSpace(slack[0]) != "one two three" {
		t.Fatalf("streamed %q (telegram), %q (slack)", seal, slack)
	}
}

func TestPromptAndReact(t *testing.T) {
	s := newSim(t, "discord") // the preset advertises prompt and react
	g := startGateway(t, s, "gw-echo")
	g.waitLog(t, "echo gateway ready")
	if _, err := s.Inject("gw-echo", event("discord", "c1", "m1", "/react")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Inject("gw-echo", event("discord", "c2", "m2", "/prompt")); err != nil {
		t.Fatal(err)
	}
	prompt := actionOf(t, awaitOps(t, s, 1, contract.OpPrompt)[0])
	opts, _ := prompt["options"].([]any)
	if len(opts) != 2 {
		t.Fatalf("prompt %v", prompt)
	}
	banana, _ := opts[1].(map[string]any)
	press, _ := json.Marshal(map[string]any{
		"text": "/" + fmt.Sprint(banana["id"]), "message_id": "m3", "message_type": "command",
		"prompt_response": map[string]any{"prompt_id": prompt["prompt_id"], "option_id": banana["id"]},
		"source":          map[string]any{"platform": "discord", "chat_id": "c2", "chat_type": "dm", "user_id": "u1"},
	})
	if _, err := s.Inject("gw-echo", press); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the echo of /react and the chosen option", func() bool {
		var react, chose bool
		for _, r := range answered(s, contract.OpSend) {
			switch actionOf(t, r)["content"] {
			case "echo: /react":
				react = true
			case "echo: chose " + fmt.Sprint(banana["label"]):
				chose = true
			}
		}
		return react && chose
	})
	if !slices.ContainsFunc(answered(s, contract.OpReact), func(r simulator.OutboundRecord) bool {
		a := actionOf(t, r)
		return a["emoji"] == "👍" && a["message_id"] == "m1"
	}) {
		t.Error("no 👍 on /react")
	}
}

func TestDeviationsEnv(t *testing.T) {
	for _, env := range []string{"RELAYKIT_DEVIATIONS=no-such-deviation", "ECHOGATEWAY_DEVIATIONS=no-such-deviation"} {
		cmd := exec.Command(binary)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), env}
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("%s: %v, want exit 2\n%s", env, err, out)
		}
	}
}

func TestMediaAndAttachments(t *testing.T) {
	s := newSim(t, "telegram") // the preset advertises send_media
	g := startGateway(t, s, "gw-echo")
	g.waitLog(t, "echo gateway ready")
	tok, err := s.Token("gw-echo", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	get := func(url string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// /media: an upload, then a send_media of the re-host link.
	if _, err := s.Inject("gw-echo", event("telegram", "c1", "m1", "/media")); err != nil {
		t.Fatal(err)
	}
	sm := actionOf(t, awaitOps(t, s, 1, contract.OpSendMedia)[0])
	src, _ := sm["source_url"].(string)
	if !strings.HasPrefix(src, s.URL()+"/relay/media/") || sm["media_kind"] != "document" || sm["filename"] != "echo.txt" {
		t.Fatalf("send_media %v", sm)
	}
	if code, body := get(src); code != http.StatusOK || body != "echo media for m1\n" {
		t.Fatalf("GET %s = %d %q", src, code, body)
	}

	// /attachments: the re-hosted item is fetched, an unknown id fails.
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/relay/media", strings.NewReader("twelve bytes"))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var up contract.MediaUploadResponse
	_ = json.NewDecoder(resp.Body).Decode(&up)
	resp.Body.Close()
	ev, _ := json.Marshal(map[string]any{
		"text": "/attachments", "message_id": "m2",
		"media_urls": []string{s.URL() + "/relay/media/" + up.ID, s.URL() + "/relay/media/00000000000000000000000000000000"},
		"source":     map[string]any{"platform": "telegram", "chat_id": "c2", "chat_type": "dm", "user_id": "u1"},
	})
	if _, err := s.Inject("gw-echo", ev); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the /attachments report", func() bool {
		for _, r := range answered(s, contract.OpSend) {
			if actionOf(t, r)["content"] == "echo: /attachments: 12 bytes, failed" {
				return true
			}
		}
		return false
	})
}

func TestDormantSuspendsAfterTheAckAndComesBack(t *testing.T) {
	s := newSim(t, "telegram")
	g := startGateway(t, s, "gw-echo")
	g.waitLog(t, "echo gateway ready")
	if _, err := s.Inject("gw-echo", event("telegram", "c1", "m1", "/dormant")); err != nil {
		t.Fatal(err)
	}
	g.waitLog(t, "suspended=true")
	// Sent while it sleeps or after it came back: either way it is
	// answered once the client re-dials (after a second) and drains.
	if _, err := s.Inject("gw-echo", event("telegram", "c2", "m2", "after the nap")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the echo after the re-dial", func() bool {
		for _, r := range answered(s, contract.OpSend) {
			if actionOf(t, r)["content"] == "echo: after the nap" {
				return true
			}
		}
		return false
	})
}
