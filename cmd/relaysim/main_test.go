package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
)

func TestMain(m *testing.M) {
	// The subprocess test runs this binary as relaysim itself.
	if os.Getenv("RELAYSIM_TEST_AS_MAIN") == "1" {
		os.Args = append([]string{"relaysim"}, strings.Fields(os.Getenv("RELAYSIM_TEST_ARGS"))...)
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

// started is a run in progress.
type started struct {
	env    map[string]string
	order  []string
	cancel context.CancelFunc
	code   chan int
	stderr *testkit.Buffer
}

// startRun runs relaysim in-process and waits for its env block.
func startRun(t *testing.T, args []string, env map[string]string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	st := &started{env: map[string]string{}, cancel: cancel, code: make(chan int, 1), stderr: &testkit.Buffer{}}
	go func() {
		st.code <- run(ctx, args, pw, st.stderr, func(k string) string { return env[k] })
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		<-st.code
	})
	sc := bufio.NewScanner(pr)
	deadline := time.AfterFunc(testkit.Wait, func() { pw.CloseWithError(errors.New("timeout")) })
	defer deadline.Stop()
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			t.Fatalf("stdout line %q is not KEY=value", sc.Text())
		}
		st.env[k] = v
		st.order = append(st.order, k)
		if k == "GATEWAY_RELAY_PLATFORMS" {
			go io.Copy(io.Discard, pr)
			return st
		}
	}
	t.Fatalf("no env block; stderr:\n%s", st.stderr.String())
	return nil
}

// dialEnv connects as the gateway the env block describes and completes a
// handshake for its first platform.
func dialEnv(t *testing.T, env map[string]string) *websocket.Conn {
	t.Helper()
	tok := contract.MintTokenTTL(env["GATEWAY_RELAY_ID"], env["GATEWAY_RELAY_SECRET"], time.Now(), contract.DefaultTokenTTL)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, contract.DialURL(env["GATEWAY_RELAY_URL"]), &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}},
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	platform := strings.Split(env["GATEWAY_RELAY_PLATFORMS"], ",")[0]
	conn.Write(ctx, websocket.MessageText, []byte(`{"type": "hello", "platform": "`+platform+`", "botId": ""}`+"\n"))
	_, msg, err := conn.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	f, err := contract.DecodeFrame(msg)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := f.(contract.DescriptorFrame); !ok || d.Descriptor.Platform != platform {
		t.Fatalf("got %s", msg)
	}
	return conn
}

func TestNoArgumentsPrintsWorkingEnvBlock(t *testing.T) {
	st := startRun(t, nil, nil)
	if strings.Join(st.order, " ") != "GATEWAY_RELAY_URL GATEWAY_RELAY_ID GATEWAY_RELAY_SECRET GATEWAY_RELAY_PLATFORMS" {
		t.Fatalf("env block keys %v", st.order)
	}
	url := st.env["GATEWAY_RELAY_URL"]
	if !strings.HasPrefix(url, "ws://127.0.0.1:") || !strings.HasSuffix(url, "/relay") || strings.HasSuffix(url, ":0/relay") {
		t.Fatalf("url %q", url)
	}
	if st.env["GATEWAY_RELAY_ID"] != "gw-dev" || len(st.env["GATEWAY_RELAY_SECRET"]) != 64 || st.env["GATEWAY_RELAY_PLATFORMS"] != "discord,telegram,slack,whatsapp" {
		t.Fatalf("env %v", st.env)
	}
	conn := dialEnv(t, st.env)
	defer conn.CloseNow()

	// Graceful shutdown closes the socket with 1001; a gateway keeps
	// reading, which completes the close handshake.
	readErr := make(chan error, 1)
	go func() {
		_, _, err := conn.Read(context.Background())
		readErr <- err
	}()
	st.cancel()
	if code := <-st.code; code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, st.stderr.String())
	}
	st.code <- 0 // for the cleanup
	if err := <-readErr; websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("close %v", err)
	}
	if strings.Contains(st.stderr.String(), st.env["GATEWAY_RELAY_SECRET"]) {
		t.Fatal("the secret reached the logs")
	}
}

func TestFlagsAndEnvTwins(t *testing.T) {
	st := startRun(t, []string{"--addr", "127.0.0.1:0", "--gateway-id", "gw-x", "--log-format", "json"},
		map[string]string{"RELAYSIM_PLATFORMS": "telegram,slack", "RELAYSIM_ADDR": "256.0.0.1:1", "RELAYSIM_GATEWAY_SECRET": "fixed-secret"})
	if st.env["GATEWAY_RELAY_ID"] != "gw-x" || st.env["GATEWAY_RELAY_PLATFORMS"] != "telegram,slack" || st.env["GATEWAY_RELAY_SECRET"] != "fixed-secret" {
		t.Fatalf("env %v", st.env)
	}
	if !strings.HasPrefix(strings.TrimSpace(st.stderr.String()), "{") {
		t.Fatalf("logs not JSON: %s", st.stderr.String())
	}
	conn := dialEnv(t, st.env)
	conn.CloseNow()
}

func TestFileStoreKeepsTheSecretAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	args := []string{"--addr", "127.0.0.1:0", "--store", "file:" + path}
	first := startRun(t, args, nil)
	first.cancel()
	if code := <-first.code; code != 0 {
		t.Fatalf("exit %d: %s", code, first.stderr.String())
	}
	first.code <- 0
	second := startRun(t, args, nil)
	if second.env["GATEWAY_RELAY_SECRET"] != first.env["GATEWAY_RELAY_SECRET"] {
		t.Fatal("secret changed across a restart with a file store")
	}
	dialEnv(t, second.env).CloseNow()
}

// A store damaged in a way no crash explains stops relaysim with exit 1
// and an error naming the file, line, offset and cause; --store-repair
// starts it, keeping the damaged file aside, and the secret survives.
func TestDamagedStoreRefusedUnlessRepair(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	args := []string{"--addr", "127.0.0.1:0", "--store", "file:" + path}
	first := startRun(t, args, nil)
	first.cancel()
	if code := <-first.code; code != 0 {
		t.Fatalf("exit %d: %s", code, first.stderr.String())
	}
	first.code <- 0
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	damaged := strings.Join(append(append([]string{}, lines[:2]...), lines[1:]...), "") // the gateway record twice
	os.WriteFile(path, []byte(damaged), 0o600)

	var out, errb bytes.Buffer
	noEnv := func(string) string { return "" }
	if code := run(context.Background(), args, &out, &errb, noEnv); code != 1 {
		t.Fatalf("exit %d on a damaged store:\n%s", code, errb.String())
	}
	for _, want := range []string{path, "line 3", "byte ", "duplicate record", "--store-repair"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("error lacks %q:\n%s", want, errb.String())
		}
	}
	if strings.Contains(errb.String(), first.env["GATEWAY_RELAY_SECRET"]) {
		t.Fatal("the error shows the secret")
	}
	if now, _ := os.ReadFile(path); string(now) != damaged {
		t.Fatal("the refused store was changed")
	}
	if code := run(context.Background(), []string{"--store-repair"}, &out, &errb, noEnv); code != 2 {
		t.Fatalf("--store-repair without a file store: exit %d", code)
	}

	second := startRun(t, append(args, "--store-repair"), nil)
	if second.env["GATEWAY_RELAY_SECRET"] != first.env["GATEWAY_RELAY_SECRET"] {
		t.Fatal("the repair lost the gateway's secret")
	}
	aside, _ := filepath.Glob(path + ".damaged-*")
	if len(aside) != 1 {
		t.Fatalf("kept aside: %v", aside)
	}
	if kept, _ := os.ReadFile(aside[0]); string(kept) != damaged {
		t.Fatal("the file kept aside is not the damaged one")
	}
	for _, want := range []string{"--store-repair is set", "repaired", "duplicate record"} {
		if !strings.Contains(second.stderr.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, second.stderr.String())
		}
	}
}

func TestHelpAndBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &errb, func(string) string { return "" }); code != 0 || errb.Len() != 0 {
		t.Fatalf("--help exit %d, stderr %q", code, errb.String())
	}
	help := out.String()
	for _, want := range []string{"--addr", "RELAYSIM_ADDR", "--store", "--dev", "--identity-token", "--platforms", "--ping-interval",
		"--ping-timeout", "--wake-cooldown", "--duplicate-policy", "--drain-window", "--log-format", "--log-level", "--deviate",
		"--print-env", "--manual-clock", "--control-token", "--store-repair", "RELAYSIM_STORE_REPAIR", "RELAYSIM_PING_INTERVAL"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %s", want)
		}
	}
	for _, args := range [][]string{{"--nope"}, {"--deviate", "bogus"}, {"--store", "s3:x"}, {"--duplicate-policy", "maybe"}, {"--log-format", "xml"}, {"extra"}} {
		errb.Reset()
		if code := run(context.Background(), args, &out, &errb, func(string) string { return "" }); code != 2 {
			t.Errorf("%v: exit %d", args, code)
		}
	}
	if code := run(context.Background(), nil, &out, &errb, func(k string) string {
		if k == "RELAYSIM_DRAIN_WINDOW" {
			return "many"
		}
		return ""
	}); code != 2 || !strings.Contains(errb.String(), "RELAYSIM_DRAIN_WINDOW") {
		t.Errorf("bad env twin: exit %d %s", code, errb.String())
	}
}

func TestPrintEnvFalse(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	errb := &testkit.Buffer{}
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--print-env=false"}, &out, errb, func(string) string { return "" })
	}()
	for !strings.Contains(errb.String(), "ready") {
		select {
		case code := <-done:
			t.Fatalf("exited %d: %s", code, errb.String())
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	<-done
	if out.Len() != 0 {
		t.Fatalf("stdout %q", out.String())
	}
}

// TestSubprocessSIGTERM runs relaysim as a real process and stops it with
// SIGTERM.
func TestSubprocessSIGTERM(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RELAYSIM_TEST_AS_MAIN=1", "RELAYSIM_TEST_ARGS=--addr 127.0.0.1:0 --log-level debug")
	stdout, _ := cmd.StdoutPipe()
	var errb testkit.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		env[k] = v
		if k == "GATEWAY_RELAY_PLATFORMS" {
			break
		}
	}
	conn := dialEnv(t, env)
	defer conn.CloseNow()
	cmd.Process.Signal(syscall.SIGTERM)
	_, _, err := conn.Read(context.Background())
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("close %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "shutting down") {
		t.Fatalf("stderr:\n%s", errb.String())
	}
}
