package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, fn func(args []string, stdout, stderr *bytes.Buffer) int, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := fn(args, &out, &errb)
	return code, out.String(), errb.String()
}

func tokenCmd(args []string, o, e *bytes.Buffer) int { return runToken(args, o, e) }

const v1Token = "Z3ctdGVzdDoxNzAwMDAwMDAwOjdhNDc1YWZjZjM3ZTNmNjRjNDQ2Yzc0MTI5YjE4NTNhOTVmYWE4NjlhOGNjYzlmYTg5ZGNlZjc1ODVkYTIxNDM"

func TestTokenCommandsReproduceVectors(t *testing.T) {
	code, out, errs := run(t, tokenCmd, "mint", "--gateway-id", "gw-test", "--secret", "s3cret", "--exp", "1700000000")
	if code != 0 || strings.TrimSpace(out) != v1Token {
		t.Fatalf("mint V1: code %d out %q err %q", code, out, errs)
	}
	code, out, _ = run(t, tokenCmd, "mint", "--gateway-id", "gw-test", "--secret", "s3cret", "--ttl", "0s")
	if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "Z3ctdGVzdDowOjE4Zjk") {
		t.Fatalf("mint V2: code %d out %q", code, out)
	}
	code, out, _ = run(t, tokenCmd, "mint", "--gateway-id", "gw-test", "--secret", "s3cret", "--ttl", "300s", "--now", "1699999700")
	if code != 0 || strings.TrimSpace(out) != v1Token {
		t.Fatalf("mint with ttl: code %d out %q", code, out)
	}
	code, out, _ = run(t, tokenCmd, "verify", "--secret", "other", "--secret", "s3cret", "--now", "1700000000", v1Token)
	if code != 0 || strings.TrimSpace(out) != `{"exp":1700000000,"gatewayId":"gw-test"}` {
		t.Fatalf("verify V1: code %d out %q", code, out)
	}
	code, _, errs = run(t, tokenCmd, "verify", "--secret", "s3cret", "--now", "1700000001", v1Token)
	if code != 1 || !strings.Contains(errs, "expired") {
		t.Fatalf("verify expired: code %d err %q", code, errs)
	}
	code, _, errs = run(t, tokenCmd, "verify", "--secret", "wrong", "--now", "1700000000", v1Token)
	if code != 1 || !strings.Contains(errs, "unauthorized") || strings.Contains(errs, "wrong") {
		t.Fatalf("verify wrong secret: code %d err %q", code, errs)
	}
	for _, bad := range [][]string{{}, {"mint"}, {"mint", "--gateway-id", "g", "--secret", "s"}, {"verify", v1Token}, {"burn"}} {
		if code, _, _ := run(t, tokenCmd, bad...); code != 2 {
			t.Errorf("token %v: exit %d, want 2", bad, code)
		}
	}
}

func TestSessionKeyCommand(t *testing.T) {
	var out, errb bytes.Buffer
	src := `{"platform":"discord","chat_type":"group","chat_id":"chan1","user_id":"u1","scope_id":"g1"}`
	if code := runSessionKey(nil, strings.NewReader(src), &out, &errb); code != 0 || strings.TrimSpace(out.String()) != "agent:main:discord:group:chan1:u1" {
		t.Fatalf("code %d out %q err %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := runSessionKey([]string{"--group-sessions-per-user=false"}, strings.NewReader(src), &out, &errb); code != 0 || strings.TrimSpace(out.String()) != "agent:main:discord:group:chan1" {
		t.Fatalf("flag ignored: %q", out.String())
	}
	if code := runSessionKey(nil, strings.NewReader(`{"platfrom":"x"}`), &out, &errb); code != 2 {
		t.Fatalf("a misspelt field must be refused, got exit %d", code)
	}
}

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.ndjson")
	os.WriteFile(good, []byte("{\"type\": \"going_idle\"}\n{\"type\":\"inbound_ack\",\"bufferId\":\"b\"}\n"), 0o600)
	var out, errb bytes.Buffer
	if code := runValidate([]string{good}, nil, &out, &errb); code != 0 || out.Len() != 0 {
		t.Fatalf("good capture: code %d out %q", code, out.String())
	}
	capture := "{\"type\":\"going_idle\"}\n{\"type\":\"hello\",\"botId\":\"\"}\n{\"type\":\"inbound_ack\"}"
	out.Reset()
	if code := runValidate([]string{"-"}, strings.NewReader(capture), &out, &errb); code != 1 {
		t.Fatalf("bad capture: exit %d", code)
	}
	want := "line 2: MUST [HS-001] platform: missing\nline 3: MUST [TRN-002] frame does not end with a newline\nline 3: MUST [IDLE-002] bufferId: missing\n"
	if out.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	runValidate([]string{"--json", "-"}, strings.NewReader("{\"type\":\"inbound_ack\"}\n"), &out, &errb)
	if strings.TrimSpace(out.String()) != `{"line":1,"level":"MUST","field":"bufferId","requirement":"IDLE-002","message":"missing"}` {
		t.Fatalf("json output %q", out.String())
	}
	// A SHOULD violation warns; --strict makes it fail the run.
	should := "{\"type\":\"outbound\",\"requestId\":\"NOT-HEX\",\"action\":{\"op\":\"send\",\"chat_id\":\"c\",\"content\":\"x\",\"reply_to\":null,\"metadata\":{}}}\n"
	out.Reset()
	if code := runValidate([]string{"-"}, strings.NewReader(should), &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "line 1: SHOULD [OUT-002]") {
		t.Fatalf("SHOULD violation: exit %d, output %q; want exit 0 and the level", code, out.String())
	}
	if code := runValidate([]string{"--strict", "-"}, strings.NewReader(should), &out, &errb); code != 1 {
		t.Fatalf("SHOULD violation with --strict: exit %d, want 1", code)
	}
}
