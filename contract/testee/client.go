package testee

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultMaxResponseBytes is the answer size a Client reads when
// Client.MaxResponseBytes is 0: room for a long outbound history.
const DefaultMaxResponseBytes = 8 << 20

// Client calls a connector's testee control API. The zero value is not
// usable; set BaseURL (NewClient does). A Client is safe for concurrent
// use.
type Client struct {
	// BaseURL is where the routes are mounted, such as
	// http://127.0.0.1:8765/_relaysim; a trailing slash is ignored.
	BaseURL string
	// Token, when set, is sent as Authorization: Bearer Token (relaysim's
	// --control-token). It never appears in errors.
	Token string
	// HTTPClient makes the requests; nil means http.DefaultClient. Every
	// method also takes a context, which bounds the whole call.
	HTTPClient *http.Client
	// MaxResponseBytes caps how much of an answer is read; 0 means
	// DefaultMaxResponseBytes. A longer answer is an error, never a
	// silently cut one.
	MaxResponseBytes int64
}

// NewClient returns a Client for the control API at baseURL, sending
// token as a bearer when it is not empty, with a 10-second timeout per
// request.
func NewClient(baseURL, token string) *Client {
	return &Client{BaseURL: baseURL, Token: token, HTTPClient: &http.Client{Timeout: 10 * time.Second}}
}

// Error is a non-2xx answer of the control API.
type Error struct {
	// Method and Path name the call, Path relative to the base URL.
	Method, Path string
	// Status is the HTTP status code.
	Status int
	// Message is the answer's {"error": ...} text, or, for an answer that
	// is not such a body, its first 512 bytes (or the status text when it
	// is empty).
	Message string
}

// Error returns "testee control API: POST /inbound: HTTP 400: <message>".
func (e *Error) Error() string {
	return fmt.Sprintf("testee control API: %s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Message)
}

// Health calls GET /health.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var out Health
	err := c.Do(ctx, http.MethodGet, "/health", nil, &out)
	return out, err
}

// Enroll calls POST /gateways.
func (c *Client) Enroll(ctx context.Context, req EnrollRequest) (Gateway, error) {
	var out Gateway
	err := c.Do(ctx, http.MethodPost, "/gateways", req, &out)
	return out, err
}

// Rotate calls POST /gateways/{id}/rotate.
func (c *Client) Rotate(ctx context.Context, gatewayID string, req RotateRequest) (Gateway, error) {
	var out Gateway
	err := c.Do(ctx, http.MethodPost, "/gateways/"+url.PathEscape(gatewayID)+"/rotate", req, &out)
	return out, err
}

// Revoke calls POST /gateways/{id}/revoke: the gateway's secrets are
// refused from now on and its open sockets are closed.
func (c *Client) Revoke(ctx context.Context, gatewayID string) error {
	return c.Do(ctx, http.MethodPost, "/gateways/"+url.PathEscape(gatewayID)+"/revoke", struct{}{}, nil)
}

// Inbound calls POST /inbound.
func (c *Client) Inbound(ctx context.Context, req InboundRequest) (Delivery, error) {
	var out Delivery
	err := c.Do(ctx, http.MethodPost, "/inbound", req, &out)
	return out, err
}

// Buffer calls GET /buffers/{instanceId}.
func (c *Client) Buffer(ctx context.Context, instanceID string) (Buffer, error) {
	var out Buffer
	err := c.Do(ctx, http.MethodGet, "/buffers/"+url.PathEscape(instanceID), nil, &out)
	return out, err
}

// Passthrough calls POST /passthrough.
func (c *Client) Passthrough(ctx context.Context, req PassthroughRequest) (Delivery, error) {
	var out Delivery
	err := c.Do(ctx, http.MethodPost, "/passthrough", req, &out)
	return out, err
}

// Press calls POST /press.
func (c *Client) Press(ctx context.Context, req PressRequest) (Delivery, error) {
	var out Delivery
	err := c.Do(ctx, http.MethodPost, "/press", req, &out)
	return out, err
}

// Outbound calls GET /outbound?gatewayId=ID.
func (c *Client) Outbound(ctx context.Context, gatewayID string) ([]OutboundRecord, error) {
	var out OutboundList
	err := c.Do(ctx, http.MethodGet, "/outbound?gatewayId="+url.QueryEscape(gatewayID), nil, &out)
	return out.Outbound, err
}

// AddScript calls POST /scripts.
func (c *Client) AddScript(ctx context.Context, req ScriptRequest) error {
	return c.Do(ctx, http.MethodPost, "/scripts", req, nil)
}

// RefuseConnections calls POST /faults {"refuseConnections": on}.
func (c *Client) RefuseConnections(ctx context.Context, on bool) error {
	return c.Do(ctx, http.MethodPost, "/faults", FaultRequest{RefuseConnections: on}, nil)
}

// ClearFaults calls DELETE /faults: every fault ends, new sockets are
// accepted again.
func (c *Client) ClearFaults(ctx context.Context) error {
	return c.Do(ctx, http.MethodDelete, "/faults", nil, nil)
}

// EnrollmentToken calls POST /enrollment-tokens.
func (c *Client) EnrollmentToken(ctx context.Context, req EnrollmentTokenRequest) (EnrollmentToken, error) {
	var out EnrollmentToken
	err := c.Do(ctx, http.MethodPost, "/enrollment-tokens", req, &out)
	return out, err
}

// Clock calls GET /clock.
func (c *Client) Clock(ctx context.Context) (Clock, error) {
	var out Clock
	err := c.Do(ctx, http.MethodGet, "/clock", nil, &out)
	return out, err
}

// AdvanceClock calls POST /clock {"advance": d}.
func (c *Client) AdvanceClock(ctx context.Context, d time.Duration) error {
	return c.Do(ctx, http.MethodPost, "/clock", ClockAdvance{Advance: Duration(d)}, nil)
}

// Do calls method on path (relative to BaseURL, query included) with in
// encoded as a JSON body when it is not nil, and decodes a 2xx answer into
// out when out is not nil and the answer has a body. A non-2xx answer is
// an *Error. Routes beyond the contract (relaysim's own) use it.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("testee control API: %s %s: encode body: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return fmt.Errorf("testee control API: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("testee control API: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	limit := c.MaxResponseBytes
	if limit <= 0 {
		limit = DefaultMaxResponseBytes
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("testee control API: %s %s: read answer: %w", method, path, err)
	}
	if int64(len(b)) > limit {
		return fmt.Errorf("testee control API: %s %s: answer over the %d-byte limit", method, path, limit)
	}
	if resp.StatusCode/100 != 2 {
		return &Error{Method: method, Path: path, Status: resp.StatusCode, Message: errorMessage(resp.StatusCode, b)}
	}
	if out == nil || len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("testee control API: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// errorMessage reads {"error": ...}, or cuts a body of another shape.
func errorMessage(status int, b []byte) string {
	var eb struct {
		Error *string `json:"error"`
	}
	if json.Unmarshal(b, &eb) == nil && eb.Error != nil {
		return *eb.Error
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return http.StatusText(status)
	}
	const max = 512
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
