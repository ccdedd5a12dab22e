package conformance

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// controlClient talks to a connector's testee control API: the small HTTP
// hook a connector under test exposes so the suite can enroll gateways,
// inject platform traffic and move time. relaysim's /_relaysim/ API is the
// reference implementation; docs/conformance-guide.md specifies the subset
// the suite uses.
type controlClient struct {
	base  string
	token string
	hc    *http.Client
}

func newControlClient(base, token string) *controlClient {
	return &controlClient{base: strings.TrimRight(base, "/"), token: token, hc: &http.Client{Timeout: 10 * time.Second}}
}

// controlError is a non-2xx answer of the control API.
type controlError struct {
	Status int
	Body   string
}

func (e *controlError) Error() string {
	return fmt.Sprintf("control API answered %d: %s", e.Status, truncate(e.Body, 200))
}

func (c *controlClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode/100 != 2 {
		return &controlError{Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("decode %s %s answer: %w", method, path, err)
		}
	}
	return nil
}

// controlInfo is what the control API says about the connector.
type controlInfo struct {
	// Platforms the connector serves, in order.
	Platforms []string `json:"platforms"`
	// Features are the optional non-op features the connector declares
	// (wake, passthrough, policy, media, provision, enroll).
	Features []string `json:"features"`
	// Clock is true when the control API can move the connector's clock.
	Clock bool `json:"manualClock"`
	// Name identifies the implementation.
	Name string `json:"name"`
}

func (i controlInfo) hasFeature(f string) bool {
	for _, x := range i.Features {
		if x == f {
			return true
		}
	}
	return false
}

// platforms returns up to n served platforms.
func (i controlInfo) platforms(n int) []string {
	if len(i.Platforms) < n {
		n = len(i.Platforms)
	}
	return append([]string(nil), i.Platforms[:n]...)
}

// enrollSpec asks for a fresh gateway.
type enrollSpec struct {
	GatewayID  string   `json:"gatewayId"`
	Secret     string   `json:"secret,omitempty"`
	Platforms  []string `json:"platforms,omitempty"`
	InstanceID string   `json:"instanceId,omitempty"`
	WakeURL    string   `json:"wakeUrl,omitempty"`
	Tenant     string   `json:"tenant,omitempty"`
}

// controlGateway is an enrolled gateway as the control API reports it.
type controlGateway struct {
	GatewayID  string   `json:"gatewayId"`
	Secret     string   `json:"secret"`
	Platforms  []string `json:"platforms"`
	InstanceID string   `json:"instanceId"`
	Tenant     string   `json:"tenant"`
}

func (c *controlClient) info(ctx context.Context) (controlInfo, error) {
	var out controlInfo
	err := c.do(ctx, http.MethodGet, "/health", nil, &out)
	return out, err
}

func (c *controlClient) enroll(ctx context.Context, s enrollSpec) (gwCreds, error) {
	if s.Secret == "" {
		s.Secret = randHex(32)
	}
	var out controlGateway
	if err := c.do(ctx, http.MethodPost, "/gateways", s, &out); err != nil {
		return gwCreds{}, err
	}
	cr := gwCreds{GatewayID: out.GatewayID, Secret: out.Secret, InstanceID: out.InstanceID, Tenant: out.Tenant, Fresh: true}
	if cr.GatewayID == "" {
		cr.GatewayID = s.GatewayID
	}
	if cr.Secret == "" {
		cr.Secret = s.Secret
	}
	plats := out.Platforms
	if len(plats) == 0 {
		plats = s.Platforms
	}
	for i, p := range plats {
		cr.Identities = append(cr.Identities, identity{Platform: p, BotID: fmt.Sprintf("conform-bot-%d", i+1)})
	}
	return cr, nil
}

// rotate starts a secret rotation and returns the new secret; the previous
// one stays valid during the rotation window.
func (c *controlClient) rotate(ctx context.Context, gatewayID string) (string, error) {
	secret := randHex(32)
	var out controlGateway
	err := c.do(ctx, http.MethodPost, "/gateways/"+url.PathEscape(gatewayID)+"/rotate", map[string]any{"secret": secret}, &out)
	if out.Secret != "" {
		secret = out.Secret
	}
	return secret, err
}

func (c *controlClient) revoke(ctx context.Context, gatewayID string) error {
	return c.do(ctx, http.MethodPost, "/gateways/"+url.PathEscape(gatewayID)+"/revoke", map[string]any{}, nil)
}

func (c *controlClient) now(ctx context.Context) (time.Time, error) {
	var out struct {
		UnixNano int64 `json:"unixNano"`
	}
	err := c.do(ctx, http.MethodGet, "/clock", nil, &out)
	return time.Unix(0, out.UnixNano), err
}

func (c *controlClient) advance(ctx context.Context, d time.Duration) error {
	return c.do(ctx, http.MethodPost, "/clock", map[string]any{"advance": d.String()}, nil)
}

// inject makes the connector receive m from its platform for gatewayID and
// returns the delivery mode it reports ("live", "buffered", "filtered").
func (c *controlClient) inject(ctx context.Context, gatewayID string, m userMessage) (string, error) {
	d, err := c.injectDelivery(ctx, gatewayID, m)
	return d.Delivery, err
}

// delivery is what the control API says happened to an injected event.
type delivery struct {
	Delivery string `json:"delivery"`
	// BufferID names the buffer entry of a buffered delivery.
	BufferID string `json:"bufferId"`
	// MessageID and ChatID are the event.message_id and
	// event.source.chat_id the gateway will see, when the connector
	// assigns its own.
	MessageID string `json:"messageId"`
	ChatID    string `json:"chatId"`
}

// injectDelivery is inject, with the buffer id of a buffered delivery.
func (c *controlClient) injectDelivery(ctx context.Context, gatewayID string, m userMessage) (delivery, error) {
	var out delivery
	err := c.do(ctx, http.MethodPost, "/inbound", map[string]any{
		"gatewayId": gatewayID, "event": json.RawMessage(eventJSON(m)), "addressed": m.Addressed,
	}, &out)
	return out, err
}

// buffered lists the buffer ids pending for a gateway instance.
func (c *controlClient) buffered(ctx context.Context, instanceID string) ([]string, error) {
	var out struct {
		Entries []struct {
			BufferID string `json:"bufferId"`
		} `json:"entries"`
	}
	if err := c.do(ctx, http.MethodGet, "/buffers/"+url.PathEscape(instanceID), nil, &out); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(out.Entries))
	for _, e := range out.Entries {
		ids = append(ids, e.BufferID)
	}
	return ids, nil
}

// injectPassthrough makes the connector forward a raw platform request.
func (c *controlClient) injectPassthrough(ctx context.Context, gatewayID, platform string, body []byte) error {
	return c.do(ctx, http.MethodPost, "/passthrough", map[string]any{
		"gatewayId": gatewayID,
		"forward": map[string]any{"platform": platform, "botId": "", "method": "POST", "path": "/interactions",
			"headers": [][2]string{{"Content-Type", "application/json"}}, "bodyB64": base64.StdEncoding.EncodeToString(body)},
	}, nil)
}

// press makes a platform user press option optionID of the prompt the
// connector rendered as messageID.
func (c *controlClient) press(ctx context.Context, gatewayID, messageID, optionID string) error {
	return c.do(ctx, http.MethodPost, "/press", map[string]any{"gatewayId": gatewayID, "messageId": messageID, "optionId": optionID}, nil)
}

// refuseConnections makes the connector refuse new sockets temporarily
// (RC-003), or stop doing so.
func (c *controlClient) refuseConnections(ctx context.Context, on bool) error {
	return c.do(ctx, http.MethodPost, "/faults", map[string]any{"refuseConnections": on}, nil)
}

// clearFaults removes every fault.
func (c *controlClient) clearFaults(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "/faults", nil, nil)
}

// outboundRecord is one action the connector performed on its platform.
type outboundRecord struct {
	RequestID        string          `json:"requestId"`
	Platform         string          `json:"platform"`
	ResolvedPlatform string          `json:"resolvedPlatform"`
	Op               string          `json:"op"`
	Action           json.RawMessage `json:"action"`
}

// outbound lists the actions the connector performed for gatewayID.
func (c *controlClient) outbound(ctx context.Context, gatewayID string) ([]outboundRecord, error) {
	var out struct {
		Outbound []outboundRecord `json:"outbound"`
	}
	err := c.do(ctx, http.MethodGet, "/outbound?gatewayId="+url.QueryEscape(gatewayID), nil, &out)
	return out.Outbound, err
}

// declineNext makes the connector decline the next action of gatewayID to
// chat as an egress decline (OUT-011).
func (c *controlClient) declineNext(ctx context.Context, gatewayID, chat string) error {
	return c.do(ctx, http.MethodPost, "/scripts", map[string]any{
		"gatewayId": gatewayID, "chatId": chat, "egressDeclined": true, "times": 1,
	}, nil)
}

// enrollmentToken issues a single-use enrollment token.
func (c *controlClient) enrollmentToken(ctx context.Context, tenant string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	err := c.do(ctx, http.MethodPost, "/enrollment-tokens", map[string]any{"tenant": tenant}, &out)
	return out.Token, err
}
