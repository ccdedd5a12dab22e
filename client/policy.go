package client

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// ProjectPolicy maps a platform adapter's relevance knobs onto the
// contract's relevance policy, and reports whether it should be declared:
//
//   - requireAddress is RequireMention and freeResponseScopes is
//     FreeResponseChannels;
//   - allowOtherBots is AllowBots "mentions" or "all", except on Discord,
//     which is fail-closed: always false there;
//   - Discord's policy is always declared, even all-default;
//   - any other platform declares nothing when everything is default
//     (settlement 5: a connector assumes the default when none was sent);
//   - the pseudo-platform "relay" never declares a policy.
func ProjectPolicy(platform string, k PolicyKnobs) (contract.PolicyRequest, bool) {
	platform = lowerTrim(platform)
	if platform == "" || platform == "relay" {
		return contract.PolicyRequest{}, false
	}
	scopes := cleanList(k.FreeResponseChannels)
	if scopes == nil {
		scopes = []string{}
	}
	allow := strings.ToLower(strings.TrimSpace(k.AllowBots))
	p := contract.PolicyRequest{
		Platform:           platform,
		RequireAddress:     k.RequireMention,
		FreeResponseScopes: scopes,
		AllowOtherBots:     allow == "mentions" || allow == "all",
	}
	if platform == "discord" {
		p.AllowOtherBots = false
		return p, true
	}
	if p.IsDefault() {
		return p, false
	}
	return p, true
}

// DeclarePolicy posts a relevance policy to /relay/policy, authenticated
// with a freshly minted upgrade token. Only HTTP 200 counts as success.
// Each declaration fully replaces the platform's earlier one.
func (c *Client) DeclarePolicy(ctx context.Context, p contract.PolicyRequest) error {
	tok := c.token()
	if tok == "" {
		return errors.New("failed to declare policy: no gateway id and secret")
	}
	return c.declarePolicy(ctx, tok, p)
}

func (c *Client) declarePolicy(ctx context.Context, tok string, p contract.PolicyRequest) error {
	if p.FreeResponseScopes == nil {
		p.FreeResponseScopes = []string{}
	}
	if c.dev.Has(deviation.ClientPolicySecretBearer) {
		c.mu.Lock()
		tok = c.creds.secret
		c.mu.Unlock()
	}
	if err := c.postJSON(ctx, contract.PolicyURL(c.cfg.URL), tok, p, nil, http.StatusOK); err != nil {
		return &stepError{"failed to declare the " + p.Platform + " policy", err}
	}
	return nil
}

// declarePolicies projects and declares the policy of every fronted
// platform, with one token minted for the loop as the reference does.
// Failures are reported, never fatal.
func (c *Client) declarePolicies(ctx context.Context) []BootStep {
	tok := c.token()
	if tok == "" {
		return []BootStep{{Name: StepPolicy, Outcome: OutcomeSkipped, Detail: "no gateway id and secret"}}
	}
	var steps []BootStep
	for _, id := range c.ids {
		p, send := ProjectPolicy(id.Platform, c.cfg.Policies[id.Platform])
		if !send {
			detail := "all-default policy; nothing to declare"
			if id.Platform == "relay" {
				detail = "the relay pseudo-platform has no policy"
			}
			steps = append(steps, BootStep{Name: StepPolicy, Platform: id.Platform, Outcome: OutcomeSkipped, Detail: detail})
			continue
		}
		if err := c.declarePolicy(ctx, tok, p); err != nil {
			c.log.Warn("relay policy declaration failed", "platform", id.Platform, "err", err.Error())
			steps = append(steps, BootStep{Name: StepPolicy, Platform: id.Platform, Outcome: OutcomeFailed, Err: err})
			continue
		}
		steps = append(steps, BootStep{Name: StepPolicy, Platform: id.Platform, Outcome: OutcomeOK, Detail: "declared"})
	}
	return steps
}

type stepError struct {
	msg string
	err error
}

func (e *stepError) Error() string { return e.msg + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }
