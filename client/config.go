package client

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/relaykit/relaykit/contract"
)

// Environment variables LoadConfig reads. The names and meanings are the
// reference gateway's; the IdP and identity-token names are relaykit's for
// the provisioning bearer, which the reference obtains from its portal.
const (
	EnvURL           = "GATEWAY_RELAY_URL"            // connector base URL (or dial URL)
	EnvID            = "GATEWAY_RELAY_ID"             // gateway id
	EnvSecret        = "GATEWAY_RELAY_SECRET"         // gateway secret; pinning it skips provisioning
	EnvDeliveryKey   = "GATEWAY_RELAY_DELIVERY_KEY"   // legacy delivery key, kept for completeness
	EnvPlatforms     = "GATEWAY_RELAY_PLATFORMS"      // comma list, e.g. "discord,telegram"
	EnvBotIDs        = "GATEWAY_RELAY_BOT_IDS"        // JSON {"discord":{"botId":"…","username":"…"}}
	EnvEndpoint      = "GATEWAY_RELAY_ENDPOINT"       // gatewayEndpoint sent at provision
	EnvRouteKeys     = "GATEWAY_RELAY_ROUTE_KEYS"     // comma list sent at provision
	EnvInstanceID    = "GATEWAY_RELAY_INSTANCE_ID"    // instanceId sent at provision
	EnvWakeURL       = "GATEWAY_RELAY_WAKE_URL"       // wakeUrl sent at provision
	EnvEnrollToken   = "GATEWAY_RELAY_ENROLL_TOKEN"   // selects the self-hosted /relay/enroll path
	EnvIdentityToken = "GATEWAY_RELAY_IDENTITY_TOKEN" // bearer for provision and enroll
	EnvIdPTokenURL   = "GATEWAY_RELAY_IDP_TOKEN_URL"  // OAuth2 client-credentials token endpoint
	EnvIdPClientID   = "GATEWAY_RELAY_IDP_CLIENT_ID"
	EnvIdPSecret     = "GATEWAY_RELAY_IDP_CLIENT_SECRET"
	EnvIdPScope      = "GATEWAY_RELAY_IDP_SCOPE"
)

// Identity is one bot the gateway fronts. The client sends one hello per
// identity, in order; the first is the connection's default route.
type Identity struct {
	Platform string
	BotID    string
	// Username is informational; it is not on the wire.
	Username string
	// CommandManifest is sent with this identity's hello when non-nil.
	// The reference gateway sends one for Discord only.
	CommandManifest []contract.Command
}

// IdP configures an OAuth2 client-credentials exchange for the identity
// bearer used by provision and enroll, as the reference gateway's
// gateway.idp block does.
type IdP struct {
	TokenURL, ClientID, ClientSecret, Scope string
}

// PolicyKnobs are a platform adapter's own relevance settings, which the
// client projects into the contract's relevance policy (ProjectPolicy).
type PolicyKnobs struct {
	// RequireMention: in group chats, answer only when addressed.
	RequireMention bool
	// FreeResponseChannels are chat or scope ids exempt from
	// RequireMention.
	FreeResponseChannels []string
	// AllowBots is "none" (or ""), "mentions" or "all": whether messages
	// from other bots are relevant.
	AllowBots string
}

// Config says which connector to dial and as whom. LoadConfig builds one
// from the environment and config.yaml the way the reference gateway does;
// a program may also fill it directly.
type Config struct {
	// URL is the connector base URL ("https://c.example") or its dial URL
	// ("wss://c.example/relay"); the client derives both forms.
	URL string
	// GatewayID and Secret authenticate the upgrade and the HTTP routes.
	// With either empty the client dials unauthenticated (dev mode), and
	// Boot tries to provision or enroll.
	GatewayID, Secret string
	// DeliveryKey is issued at provision; the current contract no longer
	// uses it.
	DeliveryKey string
	// Endpoint, RouteKeys, InstanceID and WakeURL are sent at provision.
	Endpoint   string
	RouteKeys  []string
	InstanceID string
	WakeURL    string
	// Platforms are the fronted identities in hello order. Empty means the
	// single identity ("relay", "").
	Platforms []Identity
	// IdentityToken (or IdP) is the bearer for provision and enroll.
	IdentityToken string
	IdP           IdP
	// EnrollToken selects the self-hosted path: Boot enrolls with it
	// instead of provisioning.
	EnrollToken string
	// Policies are the relevance knobs per platform.
	Policies map[string]PolicyKnobs
}

// normalized trims every value, strips trailing slashes from URLs and
// lower-cases platform names.
func (c Config) normalized() Config {
	c.URL = strings.TrimRight(strings.TrimSpace(c.URL), "/")
	c.GatewayID = strings.TrimSpace(c.GatewayID)
	c.Secret = strings.TrimSpace(c.Secret)
	c.DeliveryKey = strings.TrimSpace(c.DeliveryKey)
	c.Endpoint = strings.TrimRight(strings.TrimSpace(c.Endpoint), "/")
	c.InstanceID = strings.TrimSpace(c.InstanceID)
	c.WakeURL = strings.TrimRight(strings.TrimSpace(c.WakeURL), "/")
	c.IdentityToken = strings.TrimSpace(c.IdentityToken)
	c.EnrollToken = strings.TrimSpace(c.EnrollToken)
	c.RouteKeys = cleanList(c.RouteKeys)
	ids := make([]Identity, 0, len(c.Platforms))
	for _, id := range c.Platforms {
		id.Platform = lowerTrim(id.Platform)
		id.BotID = strings.TrimSpace(id.BotID)
		if id.Platform != "" {
			ids = append(ids, id)
		}
	}
	c.Platforms = ids
	return c
}

// identities returns the hello identities: the configured platforms, or
// ("relay", "") when there are none.
func (c Config) identities() []Identity {
	if len(c.Platforms) == 0 {
		return []Identity{{Platform: "relay"}}
	}
	return append([]Identity(nil), c.Platforms...)
}

// DefaultConfigPath returns the Hermes-style config.yaml location:
// $HERMES_HOME/config.yaml, else ~/.hermes/config.yaml, else "".
func DefaultConfigPath(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	if h := strings.TrimSpace(getenv("HERMES_HOME")); h != "" {
		return filepath.Join(h, "config.yaml")
	}
	if h := strings.TrimSpace(getenv("HOME")); h != "" {
		return filepath.Join(h, ".hermes", "config.yaml")
	}
	return ""
}

// LoadConfig resolves a Config with the reference gateway's precedence: each
// value from the environment first, then from the Hermes-style config.yaml
// at configPath (the gateway block: relay_url, relay_id, relay_secret,
// relay_endpoint, relay_route_keys as a list or comma string,
// relay_instance_id, relay_wake_url, plus relay_delivery_key,
// relay_enroll_token, relay_identity_token and the idp block). Values are
// trimmed and trailing slashes stripped from URLs. configPath "" or "-"
// reads no file.
//
// Relevance knobs are read per configured platform P: require_mention,
// free_response_channels (list or comma string) and allow_bots, from the
// env {P}_REQUIRE_MENTION, {P}_FREE_RESPONSE_CHANNELS and {P}_ALLOW_BOTS
// first, then from the file's platforms.<p> block, then its top-level <p>
// block, then a top-level key of the same name.
//
// Nothing here is fatal, as in the reference: a missing or unreadable file,
// malformed YAML or a malformed GATEWAY_RELAY_BOT_IDS each add a warning
// and resolution goes on, so LoadConfig returns warnings instead of an
// error.
func LoadConfig(getenv func(string) string, configPath string) (Config, []string) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var warns []string
	doc := map[string]any{}
	if configPath != "" && configPath != "-" {
		data, err := os.ReadFile(configPath)
		switch {
		case os.IsNotExist(err):
			// The common case for env-only setups; not worth a warning.
		case err != nil:
			warns = append(warns, fmt.Sprintf("config file %s unreadable: %v", configPath, err))
		default:
			if err := yaml.Unmarshal(data, &doc); err != nil {
				warns = append(warns, fmt.Sprintf("config file %s is not valid YAML: %v", configPath, err))
				doc = map[string]any{}
			}
			if doc == nil {
				doc = map[string]any{}
			}
		}
	}
	gw := asMap(doc["gateway"])
	str := func(env, key string) string {
		if v := strings.TrimSpace(getenv(env)); v != "" {
			return v
		}
		return scalarString(gw[key])
	}
	cfg := Config{
		URL:           str(EnvURL, "relay_url"),
		GatewayID:     str(EnvID, "relay_id"),
		Secret:        str(EnvSecret, "relay_secret"),
		DeliveryKey:   str(EnvDeliveryKey, "relay_delivery_key"),
		Endpoint:      str(EnvEndpoint, "relay_endpoint"),
		InstanceID:    str(EnvInstanceID, "relay_instance_id"),
		WakeURL:       str(EnvWakeURL, "relay_wake_url"),
		EnrollToken:   str(EnvEnrollToken, "relay_enroll_token"),
		IdentityToken: str(EnvIdentityToken, "relay_identity_token"),
	}
	if v := strings.TrimSpace(getenv(EnvRouteKeys)); v != "" {
		cfg.RouteKeys = splitComma(v)
	} else {
		cfg.RouteKeys = listValue(gw["relay_route_keys"])
	}
	idp := asMap(gw["idp"])
	idpStr := func(env, key string) string {
		if v := strings.TrimSpace(getenv(env)); v != "" {
			return v
		}
		return scalarString(idp[key])
	}
	cfg.IdP = IdP{
		TokenURL:     idpStr(EnvIdPTokenURL, "token_url"),
		ClientID:     idpStr(EnvIdPClientID, "client_id"),
		ClientSecret: idpStr(EnvIdPSecret, "client_secret"),
		Scope:        idpStr(EnvIdPScope, "scope"),
	}

	platforms := splitComma(getenv(EnvPlatforms))
	bots := map[string]json.RawMessage{}
	if raw := strings.TrimSpace(getenv(EnvBotIDs)); raw != "" {
		if err := json.Unmarshal([]byte(raw), &bots); err != nil {
			warns = append(warns, fmt.Sprintf("%s is not a JSON object; treating it as {}", EnvBotIDs))
			bots = map[string]json.RawMessage{}
		}
	}
	seen := map[string]bool{}
	for _, p := range platforms {
		p = strings.ToLower(p)
		if seen[p] {
			continue
		}
		seen[p] = true
		id := Identity{Platform: p}
		if raw, ok := bots[p]; ok {
			var entry struct {
				BotID    json.RawMessage `json:"botId"`
				Username string          `json:"username"`
			}
			var s string
			if json.Unmarshal(raw, &s) == nil {
				id.BotID = s // tolerate {"discord":"123"}
			} else if json.Unmarshal(raw, &entry) == nil {
				id.BotID = rawID(entry.BotID)
				id.Username = entry.Username
			}
		}
		cfg.Platforms = append(cfg.Platforms, id)
	}

	for _, id := range cfg.Platforms {
		if id.Platform == "relay" {
			continue
		}
		k, w := loadKnobs(getenv, doc, id.Platform)
		warns = append(warns, w...)
		if cfg.Policies == nil {
			cfg.Policies = map[string]PolicyKnobs{}
		}
		cfg.Policies[id.Platform] = k
	}
	return cfg.normalized(), warns
}

// loadKnobs reads one platform's relevance knobs.
func loadKnobs(getenv func(string) string, doc map[string]any, platform string) (PolicyKnobs, []string) {
	var warns []string
	prefix := strings.ToUpper(platform) + "_"
	blocks := []map[string]any{
		asMap(asMap(doc["platforms"])[platform]),
		asMap(doc[platform]),
		doc,
	}
	lookup := func(key string) (any, bool) {
		for _, b := range blocks {
			if v, ok := b[key]; ok && v != nil {
				return v, true
			}
		}
		return nil, false
	}
	var k PolicyKnobs
	if v := strings.TrimSpace(getenv(prefix + "REQUIRE_MENTION")); v != "" {
		b, ok := parseBool(v)
		if !ok {
			warns = append(warns, fmt.Sprintf("%sREQUIRE_MENTION=%q is not a boolean; using false", prefix, v))
		}
		k.RequireMention = b
	} else if v, ok := lookup("require_mention"); ok {
		b, ok := parseBool(scalarString(v))
		if !ok {
			warns = append(warns, fmt.Sprintf("%s.require_mention is not a boolean; using false", platform))
		}
		k.RequireMention = b
	}
	if v := strings.TrimSpace(getenv(prefix + "FREE_RESPONSE_CHANNELS")); v != "" {
		k.FreeResponseChannels = splitComma(v)
	} else if v, ok := lookup("free_response_channels"); ok {
		k.FreeResponseChannels = listValue(v)
	}
	allow := strings.TrimSpace(getenv(prefix + "ALLOW_BOTS"))
	if allow == "" {
		if v, ok := lookup("allow_bots"); ok {
			allow = scalarString(v)
		}
	}
	allow = strings.ToLower(allow)
	switch allow {
	case "", "none", "mentions", "all":
	default:
		warns = append(warns, fmt.Sprintf("%sALLOW_BOTS=%q is not none, mentions or all; using none", prefix, allow))
		allow = "none"
	}
	k.AllowBots = allow
	return k, warns
}

func asMap(v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

// scalarString renders a YAML scalar as trimmed text; YAML may have typed
// an id as a number or a flag as a bool.
func scalarString(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(t)
	case map[string]any, []any:
		return ""
	default:
		return strings.TrimSpace(fmt.Sprint(t))
	}
}

// listValue accepts a YAML list or a comma string.
func listValue(v any) []string {
	switch t := v.(type) {
	case []any:
		var out []string
		for _, item := range t {
			if s := scalarString(item); s != "" {
				out = append(out, s)
			}
		}
		return out
	default:
		return splitComma(scalarString(v))
	}
}

func splitComma(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func cleanList(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on", "y":
		return true, true
	case "0", "false", "no", "off", "n", "":
		return false, true
	}
	return false, false
}

func rawID(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return strings.TrimSpace(s)
	}
	var n json.Number
	if json.Unmarshal(v, &n) == nil {
		return n.String()
	}
	return ""
}

// merge fills every empty field of c from o; Boot uses it so explicit
// Options.Config values win over the environment.
func (c Config) merge(o Config) Config {
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	fill(&c.URL, o.URL)
	fill(&c.GatewayID, o.GatewayID)
	fill(&c.Secret, o.Secret)
	fill(&c.DeliveryKey, o.DeliveryKey)
	fill(&c.Endpoint, o.Endpoint)
	fill(&c.InstanceID, o.InstanceID)
	fill(&c.WakeURL, o.WakeURL)
	fill(&c.IdentityToken, o.IdentityToken)
	fill(&c.EnrollToken, o.EnrollToken)
	if c.IdP == (IdP{}) {
		c.IdP = o.IdP
	}
	if len(c.RouteKeys) == 0 {
		c.RouteKeys = o.RouteKeys
	}
	if len(c.Platforms) == 0 {
		c.Platforms = o.Platforms
	}
	if len(o.Policies) > 0 {
		merged := map[string]PolicyKnobs{}
		for k, v := range o.Policies {
			merged[k] = v
		}
		for k, v := range c.Policies {
			merged[k] = v
		}
		c.Policies = merged
	}
	return c
}
