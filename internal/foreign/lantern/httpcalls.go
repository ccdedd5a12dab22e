package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// mediaMax is the contract's media cap (HTTP-019, HTTP-023).
const mediaMax = 26214400

// newHTTPClient returns lantern's HTTP client. On every redirect it drops
// Authorization unless the new URL keeps the origin of the first request
// (scheme, host and port: HTTP-008), and keepBearer may drop it further.
// With sameOriginOnly (the style same-origin-redirects-only) a redirect to
// another origin is not followed at all.
func newHTTPClient(sameOriginOnly bool, keepBearer func(first, next *url.URL) bool) *http.Client {
	return &http.Client{
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			first := via[0].URL
			if sameOriginOnly && !sameOrigin(first, req.URL) {
				return fmt.Errorf("not following a redirect to another origin (%s)", req.URL.Host)
			}
			if !sameOrigin(first, req.URL) || (keepBearer != nil && !keepBearer(first, req.URL)) {
				req.Header.Del("Authorization")
			}
			return nil
		},
	}
}

// sameOrigin compares scheme, host (ignoring case) and effective port.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https", "wss":
		return "443"
	}
	return "80"
}

// postJSON posts body as JSON with an optional bearer and decodes a 2xx
// answer into out. Errors name the status and the connector's "error".
func (g *gateway) postJSON(ctx context.Context, path, bearer string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.cfg.baseURL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "lantern/1 (relaykit foreign gateway double)")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		return fmt.Errorf("%s: HTTP %d %s", path, resp.StatusCode, e.Error)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s: answer is not JSON: %w", path, err)
		}
	}
	return nil
}

// credentials is what provision and enroll answer.
type credentials struct {
	Secret    string `json:"secret"`
	GatewayID string `json:"gatewayId"`
}

// identityBearer returns the identity token: given, or fetched with the
// OAuth2 client-credentials grant.
func (g *gateway) identityBearer(ctx context.Context) (string, error) {
	if g.cfg.identityToken != "" {
		return g.cfg.identityToken, nil
	}
	if g.cfg.idpURL == "" {
		return "", nil
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {g.cfg.idpClientID}, "client_secret": {g.cfg.idpClientSecret}}
	if g.cfg.idpScope != "" {
		form.Set("scope", g.cfg.idpScope)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.cfg.idpURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := g.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok) != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("identity provider answered HTTP %d without an access_token", resp.StatusCode)
	}
	return tok.AccessToken, nil
}

// provision asks for a secret once per fronted platform, all under one
// gateway id, and adopts the first answer that has a secret; a 2xx
// without one is a failure (HTTP-001, HTTP-011).
func (g *gateway) provision(ctx context.Context, bearer string) error {
	type body struct {
		GatewayID       string   `json:"gatewayId"`
		Platform        string   `json:"platform"`
		BotID           string   `json:"botId"`
		GatewayEndpoint string   `json:"gatewayEndpoint"`
		RouteKeys       []string `json:"routeKeys"`
		InstanceID      string   `json:"instanceId,omitempty"`
		WakeURL         string   `json:"wakeUrl,omitempty"`
	}
	keys := g.cfg.routeKeys
	if keys == nil {
		keys = []string{}
	}
	id := g.gatewayID()
	var got *credentials
	var errs []error
	for _, ident := range g.cfg.identities {
		var c credentials
		err := g.postJSON(ctx, "/relay/provision", bearer, body{GatewayID: id, Platform: ident.platform, BotID: ident.botID,
			GatewayEndpoint: g.cfg.endpoint, RouteKeys: keys, InstanceID: g.cfg.instanceID, WakeURL: g.cfg.wakeURL}, &c)
		switch {
		case err != nil:
			g.log.Warn("provision failed", "platform", ident.platform, "err", err)
			errs = append(errs, err)
		case c.Secret == "":
			g.log.Warn("provision answered without a secret; counted as a failure", "platform", ident.platform)
			errs = append(errs, fmt.Errorf("provision for %s: no secret in the answer", ident.platform))
		case got == nil:
			g.log.Info("provisioned", "platform", ident.platform)
			cc := c
			got = &cc
		}
	}
	if got == nil {
		return fmt.Errorf("no provision request gave a secret: %w", errors.Join(errs...))
	}
	g.adopt(*got)
	return nil
}

// enroll redeems the enrollment token (HTTP-003).
func (g *gateway) enroll(ctx context.Context, bearer string) error {
	var c credentials
	if err := g.postJSON(ctx, "/relay/enroll", bearer, struct {
		EnrollmentToken string `json:"enrollmentToken"`
		GatewayID       string `json:"gatewayId"`
	}{g.cfg.enrollToken, g.gatewayID()}, &c); err != nil {
		return err
	}
	if c.Secret == "" {
		return errors.New("enroll answered without a secret")
	}
	g.adopt(c)
	return nil
}

func (g *gateway) adopt(c credentials) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.secret = c.Secret
	if c.GatewayID != "" {
		g.id = c.GatewayID
	}
}

// declarePolicies posts each non-default policy with a fresh upgrade
// token (HTTP-004, HTTP-009). A failure is logged; boot goes on.
func (g *gateway) declarePolicies(ctx context.Context) {
	for _, p := range g.cfg.policies {
		tok := mintToken(g.gatewayID(), g.secretValue(), time.Now(), g.cfg.tokenTTL)
		var ok struct {
			OK bool `json:"ok"`
		}
		if err := g.postJSON(ctx, "/relay/policy", tok, p, &ok); err != nil {
			g.log.Warn("policy not declared", "platform", p.Platform, "err", err)
			continue
		}
		g.log.Info("policy declared", "platform", p.Platform)
	}
}

// uploadMedia re-hosts a file on the connector and returns its URL
// (HTTP-019).
func (g *gateway) uploadMedia(ctx context.Context, name, mime string, data []byte) (string, error) {
	if len(data) == 0 || len(data) > mediaMax {
		return "", fmt.Errorf("media of %d bytes: must be 1 to %d", len(data), mediaMax)
	}
	if len([]rune(name)) > 255 {
		name = string([]rune(name)[:255])
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.cfg.baseURL+"/relay/media", bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", mime)
	req.Header.Set("X-Media-Filename", name)
	req.Header.Set("Authorization", "Bearer "+mintToken(g.gatewayID(), g.secretValue(), time.Now(), g.cfg.tokenTTL))
	resp, err := g.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var up struct {
		ID string `json:"id"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&up) != nil || up.ID == "" {
		return "", fmt.Errorf("media upload: HTTP %d", resp.StatusCode)
	}
	return g.cfg.baseURL + "/relay/media/" + url.PathEscape(up.ID), nil
}

// bearerFor says whether a download of u may carry the upgrade token
// (HTTP-022): http(s), the base URL's host and effective port, and a path
// under /relay/media/. The deviation bearer-to-connector-paths drops the
// path rule.
func (g *gateway) bearerFor(u *url.URL) bool {
	base, err := url.Parse(g.cfg.baseURL)
	if err != nil {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return false
	}
	if !strings.EqualFold(u.Hostname(), base.Hostname()) || effectivePort(u) != effectivePort(base) {
		return false
	}
	return g.dev == devBearerToConnectorPaths || strings.HasPrefix(u.EscapedPath(), "/relay/media/")
}

// downloadMedia fetches an attachment; an empty body or one over the cap
// is refused (HTTP-023).
func (g *gateway) downloadMedia(ctx context.Context, raw string) ([]byte, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("not an http(s) URL")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if g.bearerFor(u) {
		req.Header.Set("Authorization", "Bearer "+mintToken(g.gatewayID(), g.secretValue(), time.Now(), g.cfg.tokenTTL))
	}
	resp, err := g.mediaHTTP().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if resp.ContentLength > mediaMax {
		return nil, fmt.Errorf("%d bytes is over the media cap", resp.ContentLength)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, mediaMax+1))
	if err != nil {
		return nil, err
	}
	switch {
	case len(b) == 0:
		return nil, errors.New("empty body")
	case len(b) > mediaMax:
		return nil, errors.New("over the media cap")
	}
	return b, nil
}

// mediaHTTP is the download client: a redirect keeps the bearer only when
// the new URL would get it too.
func (g *gateway) mediaHTTP() *http.Client {
	c := newHTTPClient(g.cfg.styles[styleSameOriginRedirects], func(_, next *url.URL) bool { return g.bearerFor(next) })
	c.Transport = g.http.Transport
	return c
}

// transport is lantern's HTTP transport: no proxy from the environment
// (loopback connectors in tests), short dial and header timeouts.
func transport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
	}
}
