package simulator

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/relaykit/relaykit/contract/testee"
)

// ControlClient calls a relaysim's control API over HTTP, for tests that
// drive a relaysim in another process (a Server in the same process is
// simpler to drive through its methods). It embeds testee.Client, whose
// methods cover the connector testee contract, and adds relaysim's own
// routes. Non-2xx answers are *testee.Error.
type ControlClient struct {
	testee.Client
}

// NewControlClient returns a ControlClient for the relaysim at baseURL
// (such as http://127.0.0.1:8765; the /_relaysim prefix is added), sending
// token as the control token when it is not empty, with a 10-second
// timeout per request (a journal long poll needs a longer one).
func NewControlClient(baseURL, token string) *ControlClient {
	base := strings.TrimRight(baseURL, "/") + strings.TrimSuffix(ControlPrefix, "/")
	return &ControlClient{Client: *testee.NewClient(base, token)}
}

// ControlClient returns a ControlClient for s, with its control token. It
// needs a started server.
func (s *Server) ControlClient() *ControlClient { return NewControlClient(s.URL(), s.cfg.ControlToken) }

// Info calls GET /health, with relaysim's fields.
func (c *ControlClient) Info(ctx context.Context) (HealthInfo, error) {
	var out HealthInfo
	err := c.Do(ctx, http.MethodGet, "/health", nil, &out)
	return out, err
}

// Gateways calls GET /gateways.
func (c *ControlClient) Gateways(ctx context.Context) ([]Gateway, error) {
	var out GatewayList
	err := c.Do(ctx, http.MethodGet, "/gateways", nil, &out)
	return out.Gateways, err
}

// Gateway calls GET /gateways/{id}.
func (c *ControlClient) Gateway(ctx context.Context, id string) (Gateway, error) {
	var out Gateway
	err := c.Do(ctx, http.MethodGet, "/gateways/"+url.PathEscape(id), nil, &out)
	return out, err
}

// EnrollGateway calls POST /gateways with every field relaysim takes.
func (c *ControlClient) EnrollGateway(ctx context.Context, spec GatewaySpec) (EnrolledGateway, error) {
	var out EnrolledGateway
	err := c.Do(ctx, http.MethodPost, "/gateways", spec, &out)
	return out, err
}

// RetireSecrets calls POST /gateways/{id}/retire: the secrets older than
// the current one stop being accepted.
func (c *ControlClient) RetireSecrets(ctx context.Context, id string) (Gateway, error) {
	var out Gateway
	err := c.Do(ctx, http.MethodPost, "/gateways/"+url.PathEscape(id)+"/retire", struct{}{}, &out)
	return out, err
}

// CreateEnrollmentToken calls POST /enrollment-tokens with every field
// relaysim takes.
func (c *ControlClient) CreateEnrollmentToken(ctx context.Context, req EnrollmentTokenRequest) (EnrollmentToken, error) {
	var out EnrollmentToken
	err := c.Do(ctx, http.MethodPost, "/enrollment-tokens", req, &out)
	return out, err
}

// Inject calls POST /inbound with every field relaysim takes.
func (c *ControlClient) Inject(ctx context.Context, req InjectRequest) (Delivery, error) {
	var out Delivery
	err := c.Do(ctx, http.MethodPost, "/inbound", req, &out)
	return out, err
}

// Interrupt calls POST /interrupt.
func (c *ControlClient) Interrupt(ctx context.Context, req InterruptRequest) (Delivery, error) {
	var out Delivery
	err := c.Do(ctx, http.MethodPost, "/interrupt", req, &out)
	return out, err
}

// PressPrompt calls POST /press with every field relaysim takes.
func (c *ControlClient) PressPrompt(ctx context.Context, req PressRequest) (Delivery, error) {
	var out Delivery
	err := c.Do(ctx, http.MethodPost, "/press", req, &out)
	return out, err
}

// OutboundRecords calls GET /outbound, with relaysim's fields; "" lists
// every gateway's.
func (c *ControlClient) OutboundRecords(ctx context.Context, gatewayID string) ([]OutboundRecord, error) {
	var out OutboundList
	err := c.Do(ctx, http.MethodGet, "/outbound"+query("gatewayId", gatewayID), nil, &out)
	return out.Outbound, err
}

// OutboundSince calls GET /outbound?since=: the records after sequence
// number since ("" gatewayID: every gateway's), for a reader that polls
// what is new.
func (c *ControlClient) OutboundSince(ctx context.Context, gatewayID string, since uint64) ([]OutboundRecord, error) {
	var out OutboundList
	q := url.Values{"since": {strconv.FormatUint(since, 10)}}
	if gatewayID != "" {
		q.Set("gatewayId", gatewayID)
	}
	err := c.Do(ctx, http.MethodGet, "/outbound?"+q.Encode(), nil, &out)
	return out.Outbound, err
}

// Interrupts calls GET /interrupts; "" lists every gateway's.
func (c *ControlClient) Interrupts(ctx context.Context, gatewayID string) ([]InterruptRecord, error) {
	var out InterruptList
	err := c.Do(ctx, http.MethodGet, "/interrupts"+query("gatewayId", gatewayID), nil, &out)
	return out.Interrupts, err
}

// Sessions calls GET /sessions.
func (c *ControlClient) Sessions(ctx context.Context) ([]SessionInfo, error) {
	var out SessionList
	err := c.Do(ctx, http.MethodGet, "/sessions", nil, &out)
	return out.Sessions, err
}

// CloseSession calls POST /sessions/{gatewayId}/close and returns how many
// sockets it closed.
func (c *ControlClient) CloseSession(ctx context.Context, gatewayID string, req CloseSessionRequest) (int, error) {
	var out ClosedSessions
	err := c.Do(ctx, http.MethodPost, "/sessions/"+url.PathEscape(gatewayID)+"/close", req, &out)
	return out.Closed, err
}

// Instance calls GET /buffers/{instance}, with relaysim's fields.
func (c *ControlClient) Instance(ctx context.Context, instanceID string) (InstanceState, error) {
	var out InstanceState
	err := c.Do(ctx, http.MethodGet, "/buffers/"+url.PathEscape(instanceID), nil, &out)
	return out, err
}

// Policies calls GET /policies/{instance}.
func (c *ControlClient) Policies(ctx context.Context, instanceID string) (PolicyList, error) {
	var out PolicyList
	err := c.Do(ctx, http.MethodGet, "/policies/"+url.PathEscape(instanceID), nil, &out)
	return out, err
}

// JournalQuery selects journal entries for ControlClient.Journal.
type JournalQuery struct {
	// Since returns entries after this sequence number (JournalPage.Last
	// of the previous page).
	Since uint64
	// Kind keeps entries of this kind only (JournalFrameIn, ...); "" all.
	Kind string
	// Wait long-polls up to this long (at most 5m) for such an entry. The
	// client's timeout must be longer.
	Wait time.Duration
}

// Journal calls GET /journal.
func (c *ControlClient) Journal(ctx context.Context, q JournalQuery) (JournalPage, error) {
	v := url.Values{}
	if q.Since > 0 {
		v.Set("since", strconv.FormatUint(q.Since, 10))
	}
	if q.Kind != "" {
		v.Set("kind", q.Kind)
	}
	if q.Wait > 0 {
		v.Set("wait", q.Wait.String())
	}
	path := "/journal"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out JournalPage
	err := c.Do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// AddScripts calls POST /scripts and returns the new scripts' ids.
func (c *ControlClient) AddScripts(ctx context.Context, scripts ...ScriptRequest) ([]string, error) {
	var out ScriptsAdded
	err := c.Do(ctx, http.MethodPost, "/scripts", scripts, &out)
	return out.IDs, err
}

// Scripts calls GET /scripts.
func (c *ControlClient) Scripts(ctx context.Context) ([]ScriptState, error) {
	var out ScriptList
	err := c.Do(ctx, http.MethodGet, "/scripts", nil, &out)
	return out.Scripts, err
}

// ClearScripts calls DELETE /scripts.
func (c *ControlClient) ClearScripts(ctx context.Context) error {
	return c.Do(ctx, http.MethodDelete, "/scripts", nil, nil)
}

// AddFault calls POST /faults with every field relaysim takes.
func (c *ControlClient) AddFault(ctx context.Context, req FaultRequest) (FaultAdded, error) {
	var out FaultAdded
	err := c.Do(ctx, http.MethodPost, "/faults", req, &out)
	return out, err
}

// Faults calls GET /faults.
func (c *ControlClient) Faults(ctx context.Context) (FaultList, error) {
	var out FaultList
	err := c.Do(ctx, http.MethodGet, "/faults", nil, &out)
	return out, err
}

// Wakes calls GET /wakes.
func (c *ControlClient) Wakes(ctx context.Context) ([]WakeRecord, error) {
	var out WakeList
	err := c.Do(ctx, http.MethodGet, "/wakes", nil, &out)
	return out.Wakes, err
}

// ClockState calls GET /clock, with relaysim's fields.
func (c *ControlClient) ClockState(ctx context.Context) (ClockState, error) {
	var out ClockState
	err := c.Do(ctx, http.MethodGet, "/clock", nil, &out)
	return out, err
}

// MoveClock calls POST /clock (a manual clock only) and returns the clock
// after the move.
func (c *ControlClient) MoveClock(ctx context.Context, req ClockRequest) (ClockState, error) {
	var out ClockState
	err := c.Do(ctx, http.MethodPost, "/clock", req, &out)
	return out, err
}

// Reset calls POST /reset.
func (c *ControlClient) Reset(ctx context.Context) error {
	return c.Do(ctx, http.MethodPost, "/reset", nil, nil)
}

// Deviations calls GET /deviations.
func (c *ControlClient) Deviations(ctx context.Context) (DeviationsState, error) {
	var out DeviationsState
	err := c.Do(ctx, http.MethodGet, "/deviations", nil, &out)
	return out, err
}

// SetDeviations calls POST /deviations with deviation names; none restores
// conformance.
func (c *ControlClient) SetDeviations(ctx context.Context, names ...string) (DeviationsState, error) {
	var out DeviationsState
	err := c.Do(ctx, http.MethodPost, "/deviations", DeviationsRequest{Deviations: append([]string{}, names...)}, &out)
	return out, err
}

// Descriptors calls GET /descriptors.
func (c *ControlClient) Descriptors(ctx context.Context) (DescriptorSet, error) {
	var out DescriptorSet
	err := c.Do(ctx, http.MethodGet, "/descriptors", nil, &out)
	return out, err
}

func query(k, v string) string {
	if v == "" {
		return ""
	}
	return "?" + k + "=" + url.QueryEscape(v)
}
