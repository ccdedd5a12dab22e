package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
)

const exampleDescriptor = "../../examples/relaysim/smallchat.json"

// TestDescriptorFlagServesThePlatform: --descriptor (or its env twin) adds
// the file's platform to the served ones, the dev gateway fronts it, and a
// hello for it gets the file's descriptor.
func TestDescriptorFlagServesThePlatform(t *testing.T) {
	st := startRun(t, []string{"--addr", "127.0.0.1:0"}, map[string]string{"RELAYSIM_DESCRIPTOR": exampleDescriptor})
	if got := st.env["GATEWAY_RELAY_PLATFORMS"]; got != "discord,telegram,slack,whatsapp,smallchat" {
		t.Fatalf("platforms %q", got)
	}
	st = startRun(t, []string{"--addr", "127.0.0.1:0", "--descriptor", exampleDescriptor, "--platforms", "smallchat,telegram"}, nil)
	conn := dialEnv(t, st.env) // checks the descriptor names smallchat
	defer conn.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	conn.Write(ctx, websocket.MessageText, []byte(`{"type":"hello","platform":"smallchat","botId":""}`+"\n"))
	_, msg, err := conn.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := contract.DecodeFrame(msg)
	if err != nil {
		t.Fatal(err)
	}
	if d := f.(contract.DescriptorFrame).Descriptor; d.MaxMessageLength != 50 || d.LenUnit != contract.LenUnitUTF16 || d.Label != "SmallChat" {
		t.Fatalf("descriptor %+v", d)
	}
}

// TestDescriptorFlagRefusals: a bad file is a usage error naming the flag,
// the file and the field.
func TestDescriptorFlagRefusals(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	example, err := os.ReadFile(exampleDescriptor)
	if err != nil {
		t.Fatal(err)
	}
	bad := write("bad.json", strings.Replace(string(example), `"max_message_length": 50`, `"max_message_length": "50"`, 1))
	again := write("again.json", string(example))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--descriptor", bad}, "--descriptor " + bad + ": max_message_length: must be an integer"},
		{[]string{"--descriptor", filepath.Join(dir, "absent.json")}, "absent.json: cannot read it"},
		{[]string{"--descriptor", exampleDescriptor, "--descriptor", again}, `platform "smallchat" is already described by ` + exampleDescriptor},
		{[]string{"--descriptor", exampleDescriptor, "--platforms", "telegram"}, `platform "smallchat" is not in --platforms "telegram"`},
	} {
		code, out, errb := runRefused(c.args, noEnv)
		if code != 2 || !strings.Contains(errb, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, errb, c.want)
		}
		if out != "" {
			t.Errorf("%q printed %q on stdout", c.args, out)
		}
	}
}

const exampleSeed = "../../examples/relaysim/seed.yaml"

// TestSeedFlagLoadsTheSeed: --seed enrolls the seed's gateways beside the
// dev gateway and adds its scripts and faults, visible on the control API.
func TestSeedFlagLoadsTheSeed(t *testing.T) {
	st := startRun(t, []string{"--addr", "127.0.0.1:0", "--seed", exampleSeed}, nil)
	base := "http" + strings.TrimSuffix(strings.TrimPrefix(st.env["GATEWAY_RELAY_URL"], "ws"), "/relay") + "/_relaysim"
	for path, want := range map[string]string{
		"/gateways/gw-shop": `"tenant":"acme"`,
		"/gateways/gw-dev":  `"gatewayId":"gw-dev"`,
		"/scripts":          `"chatId":"c-archived"`,
		"/faults":           `"delay":"250ms"`,
		"/policies/shop":    `"requireAddress":true`,
	} {
		body := httpGet(t, base+path)
		if !strings.Contains(body, want) {
			t.Errorf("GET %s: %s lacks %s", path, body, want)
		}
	}
}

// TestSeedFlagRefusals: a seed the decoder or the simulator refuses is a
// usage error naming the flag, the file and the item.
func TestSeedFlagRefusals(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	typo := write("typo.yaml", "scripts:\n  - op: send\n    chat: c1\n")
	badOp := write("op.yaml", "scripts:\n  - op: send\n  - op: shout\n")
	dev := write("dev.json", `{"gateways": [{"gatewayId": "gw-dev"}]}`)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--seed", typo}, "--seed " + typo + `: scripts[0]: unknown field "chat" (did you mean "chatId"?)`},
		{[]string{"--seed", badOp}, "--seed " + badOp + `: scripts[1].op: unknown op "shout"`},
		{[]string{"--seed", dev}, "--seed " + dev + `: gateways[0].gatewayId: gateway "gw-dev" is already enrolled at start`},
		{[]string{"--seed", filepath.Join(dir, "absent.yaml")}, "absent.yaml: cannot read it"},
	} {
		code, out, errb := runRefused(append([]string{"--addr", "127.0.0.1:0"}, c.args...), noEnv)
		if code != 2 || !strings.Contains(errb, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, errb, c.want)
		}
		if out != "" {
			t.Errorf("%q printed %q on stdout", c.args, out)
		}
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestCaptureFlag: --capture writes each session's frames to the directory,
// one frame per line, the hello and its descriptor first.
func TestCaptureFlag(t *testing.T) {
	dir := t.TempDir()
	st := startRun(t, []string{"--addr", "127.0.0.1:0", "--capture", dir}, nil)
	conn := dialEnv(t, st.env) // hello, then the descriptor read
	defer conn.CloseNow()
	files, _ := filepath.Glob(filepath.Join(dir, "*-s000001-gw-dev.ndjson"))
	if len(files) != 1 {
		entries, _ := os.ReadDir(dir)
		t.Fatalf("capture files %v; directory holds %v", files, entries)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `{"type": "hello"`) || !strings.HasPrefix(lines[1], `{"type":"descriptor"`) {
		t.Fatalf("capture %q", b)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--capture", filepath.Join(dir, "absent")}, "--capture " + filepath.Join(dir, "absent") + ": not an existing directory"},
		{[]string{"--capture", dir, "--capture-max-open", "0"}, "--capture-max-open 0: must be at least 1"},
		{[]string{"--capture", dir, "--capture-max-bytes", "-1"}, "--capture-max-bytes -1: must be at least 1"},
	} {
		if code, _, errb := runRefused(c.args, noEnv); code != 2 || !strings.Contains(errb, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, errb, c.want)
		}
	}
}
