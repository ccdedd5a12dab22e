package client_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/contract"
)

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfigEnvWinsOverFile(t *testing.T) {
	path := writeFile(t, `
gateway:
  relay_url: "https://file.example/ "
  relay_id: file-gw
  relay_secret: file-secret
  relay_endpoint: https://agent.example/hook/
  relay_route_keys: [a, " b ", ""]
  relay_instance_id: inst-file
  relay_wake_url: https://wake.example/w/
`)
	env := map[string]string{
		client.EnvURL:       "  https://env.example/relay/  ",
		client.EnvSecret:    " env-secret ",
		client.EnvPlatforms: "Discord, telegram,,discord",
		client.EnvBotIDs:    `{"discord":{"botId":"111","username":"bot"},"telegram":{"botId":222}}`,
	}
	cfg, warns := client.LoadConfig(envFunc(env), path)
	if len(warns) != 0 {
		t.Fatalf("warnings: %v", warns)
	}
	want := client.Config{
		URL:        "https://env.example/relay",
		GatewayID:  "file-gw",
		Secret:     "env-secret",
		Endpoint:   "https://agent.example/hook",
		RouteKeys:  []string{"a", "b"},
		InstanceID: "inst-file",
		WakeURL:    "https://wake.example/w",
		Platforms: []client.Identity{
			{Platform: "discord", BotID: "111", Username: "bot"},
			{Platform: "telegram", BotID: "222"},
		},
		Policies: map[string]client.PolicyKnobs{
			"discord":  {},
			"telegram": {},
		},
	}
	if d := cmp.Diff(want, cfg); d != "" {
		t.Fatalf("config (-want +got):\n%s", d)
	}
	if got := contract.DialURL(cfg.URL); got != "wss://env.example/relay" {
		t.Errorf("dial URL = %s", got)
	}
}

func TestLoadConfigRouteKeysCommaString(t *testing.T) {
	path := writeFile(t, "gateway:\n  relay_route_keys: \"x, y ,z\"\n")
	cfg, _ := client.LoadConfig(envFunc(nil), path)
	if d := cmp.Diff([]string{"x", "y", "z"}, cfg.RouteKeys); d != "" {
		t.Fatal(d)
	}
	cfg, _ = client.LoadConfig(envFunc(map[string]string{client.EnvRouteKeys: "p,q"}), path)
	if d := cmp.Diff([]string{"p", "q"}, cfg.RouteKeys); d != "" {
		t.Fatal(d)
	}
}

func TestLoadConfigNeverFatal(t *testing.T) {
	// Missing file: nothing to report.
	if _, warns := client.LoadConfig(envFunc(nil), filepath.Join(t.TempDir(), "absent.yaml")); len(warns) != 0 {
		t.Fatalf("missing file warned: %v", warns)
	}
	// Unreadable (a directory) and malformed files warn and go on.
	if _, warns := client.LoadConfig(envFunc(nil), t.TempDir()); len(warns) != 1 {
		t.Fatalf("unreadable file: %v", warns)
	}
	cfg, warns := client.LoadConfig(envFunc(map[string]string{client.EnvURL: "http://c"}), writeFile(t, "gateway: [unbalanced"))
	if len(warns) != 1 || cfg.URL != "http://c" {
		t.Fatalf("malformed YAML: %v %+v", warns, cfg)
	}
	cfg, warns = client.LoadConfig(envFunc(map[string]string{client.EnvPlatforms: "discord", client.EnvBotIDs: "{nope"}), "")
	if len(warns) != 1 || cfg.Platforms[0].BotID != "" {
		t.Fatalf("malformed bot ids: %v %+v", warns, cfg.Platforms)
	}
}

func TestLoadConfigPolicyKnobs(t *testing.T) {
	path := writeFile(t, `
free_response_channels: "top1, top2"
require_mention: true
discord:
  require_mention: true
  free_response_channels: [c1, c2]
platforms:
  slack:
    require_mention: false
    allow_bots: mentions
`)
	env := map[string]string{
		client.EnvPlatforms:        "discord,slack,telegram,relay",
		"DISCORD_ALLOW_BOTS":       "all",
		"TELEGRAM_REQUIRE_MENTION": "no",
	}
	cfg, warns := client.LoadConfig(envFunc(env), path)
	if len(warns) != 0 {
		t.Fatal(warns)
	}
	want := map[string]client.PolicyKnobs{
		"discord":  {RequireMention: true, FreeResponseChannels: []string{"c1", "c2"}, AllowBots: "all"},
		"slack":    {RequireMention: false, FreeResponseChannels: []string{"top1", "top2"}, AllowBots: "mentions"},
		"telegram": {RequireMention: false, FreeResponseChannels: []string{"top1", "top2"}},
	}
	if d := cmp.Diff(want, cfg.Policies); d != "" {
		t.Fatalf("knobs (-want +got):\n%s", d)
	}
	_, warns = client.LoadConfig(envFunc(map[string]string{client.EnvPlatforms: "slack", "SLACK_ALLOW_BOTS": "sometimes"}), "")
	if len(warns) != 1 || !strings.Contains(warns[0], "SLACK_ALLOW_BOTS") {
		t.Fatalf("bad ALLOW_BOTS: %v", warns)
	}
}

func TestDefaultConfigPath(t *testing.T) {
	if got := client.DefaultConfigPath(envFunc(map[string]string{"HERMES_HOME": "/h", "HOME": "/home/u"})); got != "/h/config.yaml" {
		t.Error(got)
	}
	if got := client.DefaultConfigPath(envFunc(map[string]string{"HOME": "/home/u"})); got != "/home/u/.hermes/config.yaml" {
		t.Error(got)
	}
}

func TestProjectPolicy(t *testing.T) {
	cases := []struct {
		platform string
		k        client.PolicyKnobs
		send     bool
		want     contract.PolicyRequest
	}{
		{"discord", client.PolicyKnobs{}, true, contract.PolicyRequest{Platform: "discord", FreeResponseScopes: []string{}}},
		{"discord", client.PolicyKnobs{AllowBots: "all", RequireMention: true}, true,
			contract.PolicyRequest{Platform: "discord", RequireAddress: true, FreeResponseScopes: []string{}}},
		{"slack", client.PolicyKnobs{}, false, contract.PolicyRequest{}},
		{"slack", client.PolicyKnobs{AllowBots: "none"}, false, contract.PolicyRequest{}},
		{"slack", client.PolicyKnobs{AllowBots: "mentions"}, true,
			contract.PolicyRequest{Platform: "slack", FreeResponseScopes: []string{}, AllowOtherBots: true}},
		{"telegram", client.PolicyKnobs{FreeResponseChannels: []string{" c1 ", ""}}, true,
			contract.PolicyRequest{Platform: "telegram", FreeResponseScopes: []string{"c1"}}},
		{"relay", client.PolicyKnobs{RequireMention: true}, false, contract.PolicyRequest{}},
	}
	for _, tc := range cases {
		got, send := client.ProjectPolicy(tc.platform, tc.k)
		if send != tc.send {
			t.Errorf("%s %+v: send = %v", tc.platform, tc.k, send)
			continue
		}
		if send {
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("%s %+v:\n%s", tc.platform, tc.k, d)
			}
		}
	}
}
