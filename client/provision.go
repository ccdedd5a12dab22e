package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// safeHTTPClient returns a copy of base (or a default client) whose
// redirects never carry a bearer to another origin. Go's own rule would
// still forward Authorization to a subdomain; the contract forbids any
// other origin (settlement 6). Timeouts come from the caller's context.
func safeHTTPClient(base *http.Client, dev deviation.Set) *http.Client {
	hc := &http.Client{}
	if base != nil {
		*hc = *base
	}
	hc.Timeout = 0
	prev := hc.CheckRedirect
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > 0 && !sameOrigin(via[0].URL, req.URL) && !dev.Has(deviation.ClientBearerOnRedirect) {
			req.Header.Del("Authorization")
		}
		if prev != nil {
			return prev(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return hc
}

// sameOrigin compares scheme, host (case-insensitively) and effective port.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https", "wss":
		return "443"
	case "http", "ws":
		return "80"
	}
	return ""
}

// withTimeout bounds ctx by d on the client's clock.
func (c *Client) withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	t := c.clk.AfterFunc(d, cancel)
	return ctx, func() { t.Stop(); cancel() }
}

// httpError is a non-2xx answer; Message is the body's "error" field when
// the connector sent one (HTTP-006).
type httpError struct {
	Status  int
	Message string
}

func (e *httpError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("HTTP %d", e.Status)
}

// postJSON posts body as JSON with an optional bearer and decodes a 2xx
// answer into out. okStatus, when non-zero, is the only accepted status.
func (c *Client) postJSON(ctx context.Context, endpoint, bearer string, body, out any, okStatus int) error {
	ctx, cancel := c.withTimeout(ctx, c.opts.HTTPTimeout)
	defer cancel()
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("failed to encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("failed to build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("failed to POST %s: %w", endpoint, redactURLError(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("failed to read the answer of %s: %w", endpoint, err)
	}
	ok := resp.StatusCode/100 == 2
	if okStatus != 0 {
		ok = resp.StatusCode == okStatus
	}
	if !ok {
		var eb contract.ErrorBody
		_ = json.Unmarshal(raw, &eb)
		return &httpError{Status: resp.StatusCode, Message: eb.Error}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("failed to decode the answer of %s: %w", endpoint, err)
		}
	}
	return nil
}

// redactURLError drops nothing today (bearers travel in headers, never in
// URLs) but keeps url.Error's noisy "Post \"...\":" prefix readable.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// identityBearer returns the identity token for provision and enroll: the
// configured one, or one fetched by OAuth2 client credentials.
func (c *Client) identityBearer(ctx context.Context) (string, error) {
	if c.cfg.IdentityToken != "" {
		return c.cfg.IdentityToken, nil
	}
	idp := c.cfg.IdP
	if idp.TokenURL == "" {
		return "", errors.New("no identity token: set " + EnvIdentityToken + " or " + EnvIdPTokenURL)
	}
	ctx, cancel := c.withTimeout(ctx, c.opts.HTTPTimeout)
	defer cancel()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {idp.ClientID}, "client_secret": {idp.ClientSecret}}
	if idp.Scope != "" {
		form.Set("scope", idp.Scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, idp.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("failed to build the IdP token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("failed to reach the IdP: %w", redactURLError(err))
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("IdP token request failed: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok); err != nil || tok.AccessToken == "" {
		return "", errors.New("IdP answer has no access_token")
	}
	return tok.AccessToken, nil
}

// provisionGatewayID is the gateway id sent at provision: the configured
// one, else gw-<hostname>, else gw-hermes.
func (c *Client) provisionGatewayID() string {
	if id := c.GatewayID(); id != "" {
		return id
	}
	if h, err := os.Hostname(); err == nil && strings.TrimSpace(h) != "" {
		return "gw-" + strings.TrimSpace(h)
	}
	return "gw-hermes"
}

// provision registers the gateway for each fronted platform, one POST per
// platform under one gateway id, tolerating partial failure. The first
// success sets the credentials, in memory only.
func (c *Client) provision(ctx context.Context) []BootStep {
	bearer, err := c.identityBearer(ctx)
	if err != nil {
		return []BootStep{{Name: StepProvision, Outcome: OutcomeFailed, Err: err}}
	}
	gwID := c.provisionGatewayID()
	routeKeys := c.cfg.RouteKeys
	if routeKeys == nil {
		routeKeys = []string{}
	}
	var steps []BootStep
	adopted := false
	for _, id := range c.ids {
		body := contract.ProvisionRequest{
			GatewayID: gwID, Platform: id.Platform, BotID: id.BotID,
			GatewayEndpoint: c.cfg.Endpoint, RouteKeys: routeKeys,
			InstanceID: c.cfg.InstanceID, WakeURL: c.cfg.WakeURL,
		}
		var resp contract.ProvisionResponse
		err := c.postJSON(ctx, contract.ProvisionURL(c.cfg.URL), bearer, body, &resp, 0)
		if err == nil && strings.TrimSpace(resp.Secret) == "" && !c.dev.Has(deviation.ClientAcceptSecretlessProvision) {
			err = errors.New("provision answer has no secret")
		}
		if err != nil {
			c.log.Warn("relay provision failed", "platform", id.Platform, "err", err.Error())
			steps = append(steps, BootStep{Name: StepProvision, Platform: id.Platform, Outcome: OutcomeFailed, Err: err})
			continue
		}
		got := resp.GatewayID
		if got == "" {
			got = gwID
		}
		c.mu.Lock()
		first := !adopted && c.creds.secret == ""
		if first {
			c.creds = credentials{gatewayID: got, secret: resp.Secret, deliveryKey: resp.DeliveryKey}
			adopted = true
		}
		c.mu.Unlock()
		detail := "provisioned as " + got
		if !first {
			detail = "provisioned (credentials already set)"
		}
		c.log.Info("relay provisioned", "platform", id.Platform, "gateway_id", got, "tenant", resp.Tenant)
		steps = append(steps, BootStep{Name: StepProvision, Platform: id.Platform, Outcome: OutcomeOK, Detail: detail})
	}
	return steps
}

// enroll exchanges a one-time enrollment token for credentials (the
// self-hosted path).
func (c *Client) enroll(ctx context.Context) BootStep {
	bearer, _ := c.identityBearer(ctx) // enroll may run without an identity
	body := contract.EnrollRequest{EnrollmentToken: c.cfg.EnrollToken, GatewayID: c.provisionGatewayID()}
	var payload any = body
	if c.dev.Has(deviation.ClientEnrollTokenInHeader) {
		bearer, payload = body.EnrollmentToken, map[string]string{"gatewayId": body.GatewayID}
	}
	var resp contract.EnrollResponse
	err := c.postJSON(ctx, contract.EnrollURL(c.cfg.URL), bearer, payload, &resp, 0)
	if err == nil && strings.TrimSpace(resp.Secret) == "" {
		err = errors.New("enroll answer has no secret")
	}
	if err != nil {
		var he *httpError
		if errors.As(err, &he) {
			switch he.Status {
			case http.StatusUnauthorized:
				err = fmt.Errorf("caller identity rejected: %w", err)
			case http.StatusForbidden:
				err = fmt.Errorf("enrollment token invalid, expired, used or another tenant's: %w", err)
			}
		}
		c.log.Warn("relay enroll failed", "err", err.Error())
		return BootStep{Name: StepEnroll, Outcome: OutcomeFailed, Err: err}
	}
	got := resp.GatewayID
	if got == "" {
		got = body.GatewayID
	}
	c.mu.Lock()
	c.creds = credentials{gatewayID: got, secret: resp.Secret, deliveryKey: resp.DeliveryKey}
	c.mu.Unlock()
	c.log.Info("relay enrolled", "gateway_id", got, "tenant", resp.Tenant)
	return BootStep{Name: StepEnroll, Outcome: OutcomeOK, Detail: "enrolled as " + got}
}
