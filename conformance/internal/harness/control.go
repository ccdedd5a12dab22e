package harness

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/contract/testee"
)

// controlClient talks to a connector's testee control API: the small HTTP
// hook a connector under test exposes so the suite can enroll gateways,
// inject platform traffic and move time. Its types and client live in
// package testee; relaysim's /_relaysim/ API is the reference
// implementation; docs/conformance-guide.md specifies it. The methods here
// keep the suite's older call sites and add what the suite fills in
// (fresh secrets, fallbacks for connectors that answer less).
type controlClient struct {
	c *testee.Client
}

func newControlClient(base, token string) *controlClient {
	return &controlClient{c: &testee.Client{BaseURL: base, Token: token, HTTPClient: &http.Client{Timeout: 10 * time.Second}}}
}

// ControlError is a non-2xx answer of the control API.
type ControlError = testee.Error

// controlInfo is what the control API says about the connector.
type controlInfo struct {
	testee.Health
	// Clock is true when the control API can move the connector's clock
	// (Health.ManualClock).
	Clock bool
}

func (i controlInfo) hasFeature(f string) bool { return i.HasFeature(f) }

// FirstPlatforms returns up to n served platforms.
func (i controlInfo) FirstPlatforms(n int) []string {
	if len(i.Platforms) < n {
		n = len(i.Platforms)
	}
	return append([]string(nil), i.Platforms[:n]...)
}

// EnrollSpec asks for a fresh gateway.
type EnrollSpec = testee.EnrollRequest

func (c *controlClient) info(ctx context.Context) (controlInfo, error) {
	h, err := c.c.Health(ctx)
	return controlInfo{Health: h, Clock: h.ManualClock}, err
}

func (c *controlClient) Enroll(ctx context.Context, s EnrollSpec) (GWCreds, error) {
	if s.Secret == "" {
		s.Secret = RandHex(32)
	}
	out, err := c.c.Enroll(ctx, s)
	if err != nil {
		return GWCreds{}, err
	}
	cr := GWCreds{GatewayID: out.GatewayID, Secret: out.Secret, InstanceID: out.InstanceID, Tenant: out.Tenant, Fresh: true}
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
		cr.Identities = append(cr.Identities, Identity{Platform: p, BotID: fmt.Sprintf("conform-bot-%d", i+1)})
	}
	return cr, nil
}

// Rotate starts a secret rotation and returns the new secret; the previous
// one stays valid during the rotation window.
func (c *controlClient) Rotate(ctx context.Context, gatewayID string) (string, error) {
	secret := RandHex(32)
	out, err := c.c.Rotate(ctx, gatewayID, testee.RotateRequest{Secret: secret})
	if out.Secret != "" {
		secret = out.Secret
	}
	return secret, err
}

func (c *controlClient) Revoke(ctx context.Context, gatewayID string) error {
	return c.c.Revoke(ctx, gatewayID)
}

func (c *controlClient) now(ctx context.Context) (time.Time, error) {
	out, err := c.c.Clock(ctx)
	return out.Time(), err
}

func (c *controlClient) Advance(ctx context.Context, d time.Duration) error {
	return c.c.AdvanceClock(ctx, d)
}

// delivery is what the control API says happened to an injected event.
type delivery struct {
	Delivery string
	// BufferID names the buffer entry of a buffered delivery.
	BufferID string
	// MessageID and ChatID are the event.message_id and
	// event.source.chat_id the gateway will see, when the connector says
	// (one that mints its own ids); empty otherwise.
	MessageID, ChatID string
}

// InjectDelivery is inject, with the buffer id of a buffered delivery and
// the ids the connector reports.
func (c *controlClient) InjectDelivery(ctx context.Context, gatewayID string, m UserMessage) (delivery, error) {
	d, err := c.c.Inbound(ctx, testee.InboundRequest{GatewayID: gatewayID, Event: EventJSON(m), Addressed: m.Addressed})
	return delivery{Delivery: string(d.Mode), BufferID: d.BufferID, MessageID: d.MessageID, ChatID: d.ChatID}, err
}

// Buffered lists the buffer ids pending for a gateway instance.
func (c *controlClient) Buffered(ctx context.Context, instanceID string) ([]string, error) {
	b, err := c.c.Buffer(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	return b.IDs(), nil
}

// InjectPassthrough makes the connector forward a raw platform request.
func (c *controlClient) InjectPassthrough(ctx context.Context, gatewayID, platform string, body []byte) error {
	fw, err := testee.ForwardJSON(contract.Forward{Platform: platform, Method: http.MethodPost, Path: "/interactions",
		Headers: [][2]string{{"Content-Type", "application/json"}}, Body: body})
	if err != nil {
		return err
	}
	_, err = c.c.Passthrough(ctx, testee.PassthroughRequest{GatewayID: gatewayID, Forward: fw})
	return err
}

// Press makes a platform user press option optionID of the prompt the
// connector rendered as messageID.
func (c *controlClient) Press(ctx context.Context, gatewayID, messageID, optionID string) error {
	_, err := c.c.Press(ctx, testee.PressRequest{GatewayID: gatewayID, MessageID: messageID, OptionID: optionID})
	return err
}

// RefuseConnections makes the connector refuse new sockets temporarily
// (RC-003), or stop doing so.
func (c *controlClient) RefuseConnections(ctx context.Context, on bool) error {
	return c.c.RefuseConnections(ctx, on)
}

// outboundRecord is one action the connector performed on its platform.
type outboundRecord = testee.OutboundRecord

// Outbound lists the actions the connector performed for gatewayID.
func (c *controlClient) Outbound(ctx context.Context, gatewayID string) ([]outboundRecord, error) {
	return c.c.Outbound(ctx, gatewayID)
}

// DeclineNext makes the connector decline the next action of gatewayID to
// chat as an egress decline (OUT-011).
func (c *controlClient) DeclineNext(ctx context.Context, gatewayID, chat string) error {
	return c.c.AddScript(ctx, testee.ScriptRequest{GatewayID: gatewayID, ChatID: chat, EgressDeclined: true, Times: 1})
}

// EnrollmentToken issues a single-use enrollment token.
func (c *controlClient) EnrollmentToken(ctx context.Context, tenant string) (string, error) {
	out, err := c.c.EnrollmentToken(ctx, testee.EnrollmentTokenRequest{Tenant: tenant})
	return out.Token, err
}
