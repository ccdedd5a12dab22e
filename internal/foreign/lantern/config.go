package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// identity is one (platform, bot id) pair lantern speaks for.
type identity struct {
	platform string
	botID    string
}

// policyDecl is a relevance policy lantern declares at boot.
type policyDecl struct {
	Platform           string   `json:"platform"`
	RequireAddress     bool     `json:"requireAddress"`
	FreeResponseScopes []string `json:"freeResponseScopes"`
	AllowOtherBots     bool     `json:"allowOtherBots"`
}

// config is everything lantern reads from its environment.
type config struct {
	dialURL string // TRN-014
	baseURL string // HTTP-007

	gatewayID  string
	secret     string
	identities []identity

	identityToken   string
	idpURL          string
	idpClientID     string
	idpClientSecret string
	idpScope        string
	enrollToken     string

	instanceID string
	wakeURL    string
	endpoint   string
	routeKeys  []string
	policies   []policyDecl

	backoffBase      time.Duration // 1 s
	backoffCap       time.Duration // 30 s
	pingInterval     time.Duration // 30 s
	pingTimeout      time.Duration // 60 s
	handshakeTimeout time.Duration // 30 s
	goIdleTimeout    time.Duration // 10 s
	stableWindow     time.Duration // 60 s
	tokenTTL         time.Duration // 300 s; zero or less mints exp 0
	resultTimeout    time.Duration // 30 s

	styles      map[string]bool // LANTERN_STYLE: conformant alternatives, see styles
	journalPath string          // "" means a temporary file removed at exit
	deviation   string
	caseID      string
	logLevel    string
}

// loadConfig reads the gateway testee contract's environment
// (docs/conformance-guide.md) and lantern's own LANTERN_* knobs.
func loadConfig(getenv func(string) string) (*config, error) {
	c := &config{
		backoffBase:      time.Second,
		backoffCap:       30 * time.Second,
		pingInterval:     30 * time.Second,
		pingTimeout:      60 * time.Second,
		handshakeTimeout: 30 * time.Second,
		goIdleTimeout:    10 * time.Second,
		stableWindow:     60 * time.Second,
		tokenTTL:         300 * time.Second,
		resultTimeout:    30 * time.Second,
		styles:           map[string]bool{},
	}
	raw := strings.TrimSpace(getenv("GATEWAY_RELAY_URL"))
	if raw == "" {
		return nil, errors.New("GATEWAY_RELAY_URL is not set")
	}
	c.dialURL = dialURL(raw)
	c.baseURL = baseURL(c.dialURL)
	if u, err := url.Parse(c.dialURL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, fmt.Errorf("GATEWAY_RELAY_URL: %q does not give a ws, wss, http or https URL", raw)
	}

	c.gatewayID = strings.TrimSpace(getenv("GATEWAY_RELAY_ID"))
	c.secret = strings.TrimSpace(getenv("GATEWAY_RELAY_SECRET"))
	c.identityToken = strings.TrimSpace(getenv("GATEWAY_RELAY_IDENTITY_TOKEN"))
	c.idpURL = strings.TrimSpace(getenv("GATEWAY_RELAY_IDP_TOKEN_URL"))
	c.idpClientID = strings.TrimSpace(getenv("GATEWAY_RELAY_IDP_CLIENT_ID"))
	c.idpClientSecret = strings.TrimSpace(getenv("GATEWAY_RELAY_IDP_CLIENT_SECRET"))
	c.idpScope = strings.TrimSpace(getenv("GATEWAY_RELAY_IDP_SCOPE"))
	c.enrollToken = strings.TrimSpace(getenv("GATEWAY_RELAY_ENROLL_TOKEN"))
	c.instanceID = strings.TrimSpace(getenv("GATEWAY_RELAY_INSTANCE_ID"))
	c.wakeURL = strings.TrimRight(strings.TrimSpace(getenv("GATEWAY_RELAY_WAKE_URL")), "/")
	c.endpoint = strings.TrimSpace(getenv("GATEWAY_RELAY_ENDPOINT"))
	c.routeKeys = commaList(getenv("GATEWAY_RELAY_ROUTE_KEYS"))
	c.caseID = getenv("RELAYKIT_CASE")
	c.journalPath = strings.TrimSpace(getenv("LANTERN_JOURNAL"))
	c.logLevel = strings.TrimSpace(getenv("LANTERN_LOG_LEVEL"))

	for _, st := range commaList(getenv("LANTERN_STYLE")) {
		if !slices.Contains(styles, st) {
			return nil, fmt.Errorf("LANTERN_STYLE: unknown style %q (known: %s)", st, strings.Join(styles, ", "))
		}
		c.styles[st] = true
	}
	var err error
	if c.deviation, err = parseDeviation(getenv("LANTERN_DEVIATION")); err != nil {
		return nil, err
	}

	// Identities: the platform list in order, bot ids from a JSON map; a
	// malformed map counts as empty, as in the reference gateway.
	var bots map[string]struct {
		BotID string `json:"botId"`
	}
	if err := json.Unmarshal([]byte(getenv("GATEWAY_RELAY_BOT_IDS")), &bots); err != nil {
		bots = nil
	}
	seen := map[string]bool{}
	for _, p := range commaList(getenv("GATEWAY_RELAY_PLATFORMS")) {
		p = strings.ToLower(p)
		if seen[p] {
			continue
		}
		seen[p] = true
		c.identities = append(c.identities, identity{platform: p, botID: bots[p].BotID})
	}
	if len(c.identities) == 0 {
		c.identities = []identity{{platform: "relay"}}
	}

	knobs := []struct {
		name string
		dst  *time.Duration
	}{
		{"RELAYKIT_BACKOFF_BASE", &c.backoffBase},
		{"RELAYKIT_BACKOFF_CAP", &c.backoffCap},
		{"RELAYKIT_PING_INTERVAL", &c.pingInterval},
		{"RELAYKIT_PING_TIMEOUT", &c.pingTimeout},
		{"RELAYKIT_HANDSHAKE_TIMEOUT", &c.handshakeTimeout},
		{"RELAYKIT_GO_IDLE_TIMEOUT", &c.goIdleTimeout},
		{"RELAYKIT_STABLE_WINDOW", &c.stableWindow},
		{"RELAYKIT_TOKEN_TTL", &c.tokenTTL},
		{"LANTERN_RESULT_TIMEOUT", &c.resultTimeout},
	}
	for _, k := range knobs {
		v := strings.TrimSpace(getenv(k.name))
		if v == "" {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a Go duration", k.name, v)
		}
		if d < 0 && k.name != "RELAYKIT_TOKEN_TTL" {
			return nil, fmt.Errorf("%s: %q is negative", k.name, v)
		}
		*k.dst = d
	}
	if c.backoffCap < c.backoffBase {
		c.backoffCap = c.backoffBase
	}

	for _, id := range c.identities {
		p, ok, err := policyFromEnv(getenv, id.platform)
		if err != nil {
			return nil, err
		}
		if ok {
			c.policies = append(c.policies, p)
		}
	}
	return c, nil
}

// policyFromEnv reads {PLATFORM}_REQUIRE_MENTION, _FREE_RESPONSE_CHANNELS
// and _ALLOW_BOTS. ok is false when the result is the all-default policy,
// which lantern never declares (HTTP-017), and for the platform relay.
func policyFromEnv(getenv func(string) string, platform string) (policyDecl, bool, error) {
	p := policyDecl{Platform: platform, FreeResponseScopes: []string{}}
	if platform == "relay" {
		return p, false, nil
	}
	prefix := strings.ToUpper(platform) + "_"
	if v := strings.TrimSpace(getenv(prefix + "REQUIRE_MENTION")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return p, false, fmt.Errorf("%sREQUIRE_MENTION: %q is not a boolean", prefix, v)
		}
		p.RequireAddress = b
	}
	p.FreeResponseScopes = append(p.FreeResponseScopes, commaList(getenv(prefix+"FREE_RESPONSE_CHANNELS"))...)
	switch v := strings.ToLower(strings.TrimSpace(getenv(prefix + "ALLOW_BOTS"))); v {
	case "", "none", "off", "false":
	case "all", "mentions", "true":
		p.AllowOtherBots = true
	default:
		return p, false, fmt.Errorf("%sALLOW_BOTS: %q is not none, mentions or all", prefix, v)
	}
	return p, p.RequireAddress || p.AllowOtherBots || len(p.FreeResponseScopes) > 0, nil
}

// dialURL normalises the configured connector URL as TRN-014 says: trim,
// https→wss and http→ws, drop trailing slashes, append /relay.
func dialURL(raw string) string {
	u := strings.TrimSpace(raw)
	switch lower := strings.ToLower(u); {
	case strings.HasPrefix(lower, "https://"):
		u = "wss://" + u[len("https://"):]
	case strings.HasPrefix(lower, "http://"):
		u = "ws://" + u[len("http://"):]
	}
	u = strings.TrimRight(u, "/")
	if !strings.HasSuffix(u, "/relay") {
		u += "/relay"
	}
	return u
}

// baseURL derives the HTTP base from the dial URL (HTTP-007).
func baseURL(dial string) string {
	u := dial
	switch lower := strings.ToLower(u); {
	case strings.HasPrefix(lower, "wss://"):
		u = "https://" + u[len("wss://"):]
	case strings.HasPrefix(lower, "ws://"):
		u = "http://" + u[len("ws://"):]
	}
	return strings.TrimSuffix(u, "/relay")
}

func commaList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// hostnameGatewayID is the gateway id used when none is configured.
func hostnameGatewayID() string {
	h, err := os.Hostname()
	if err != nil || strings.TrimSpace(h) == "" {
		return "gw-lantern"
	}
	return "gw-" + strings.ToLower(strings.TrimSpace(h))
}
