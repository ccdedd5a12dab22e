package badinput

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/fixtures"
	"github.com/relaykit/relaykit/internal/deviation"
	"github.com/relaykit/relaykit/simulator"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const identity = "badinput-identity-token"

// relaysim starts a simulator with two tenants' gateways on telegram, a
// revoked gateway, and slack served but not fronted, and returns the
// catalogue's target for it.
func relaysim(t *testing.T, devs ...deviation.ID) (*simulator.Server, Target) {
	t.Helper()
	opts := simulator.Options{
		Platforms:      []string{"telegram", "slack"},
		IdentityTokens: map[string]string{identity: "tenant-a"},
		HelloGrace:     500 * time.Millisecond,
	}
	if err := deviation.Apply(&opts, deviation.NewSet(devs...)); err != nil {
		t.Fatal(err)
	}
	s, err := simulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	enroll := func(id, tenant string) Creds {
		g, err := s.EnrollGateway(simulator.GatewaySpec{GatewayID: id, Tenant: tenant, Platforms: []string{"telegram"}})
		if err != nil {
			t.Fatal(err)
		}
		return Creds{GatewayID: g.GatewayID, Secret: g.Secret}
	}
	a, b, r := enroll("gw-a", "tenant-a"), enroll("gw-b", "tenant-b"), enroll("gw-r", "tenant-a")
	if err := s.RevokeGateway("gw-r"); err != nil {
		t.Fatal(err)
	}
	return s, Target{
		RelayURL: s.RelayURL(), BaseURL: s.URL(), Platform: "telegram", UnfrontedPlatform: "slack",
		Gateway: a, Other: b, Revoked: &r, IdentityToken: identity,
		InjectBuffered: func(ctx context.Context, gatewayID string) (string, error) {
			ev := json.RawMessage(`{"text":"badinput","message_id":"m-` + randHex(4) + `","source":{"platform":"telegram","chat_id":"c1","chat_type":"dm","user_id":"u1"}}`)
			for {
				d, err := s.Inject(gatewayID, ev)
				if err != nil {
					return "", err
				}
				if d.Mode == simulator.DeliveryBuffered {
					return d.BufferID, nil
				}
				// A socket of an earlier entry is still going away.
				select {
				case <-ctx.Done():
					return "", ctx.Err()
				case <-time.After(20 * time.Millisecond):
				}
			}
		},
		Pending: func(_ context.Context, gatewayID, bufferID string) (bool, error) {
			g, _ := s.Gateway(gatewayID)
			for _, e := range s.Buffer(g.InstanceID) {
				if e.BufferID == bufferID {
					return true, nil
				}
			}
			return false, nil
		},
		Quiet: 200 * time.Millisecond,
	}
}

func TestCatalogueLoads(t *testing.T) {
	es, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if _, ok := contract.LookupRequirement(e.Requirement); !ok {
			t.Errorf("%s: unknown requirement %s", e.ID, e.Requirement)
		}
	}
	// Every bad request body of bad/bodies.json is sent to its route.
	bodies, err := fixtures.BadBodies()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]Entry{}
	for _, e := range es {
		ids[e.ID] = e
	}
	for _, b := range bodies {
		if !strings.HasSuffix(b.Kind, "_request") {
			continue
		}
		e, ok := ids["http-"+strings.ReplaceAll(b.Name, "_", "-")]
		if !ok || e.Input.Body != b.Bytes {
			t.Errorf("bad/bodies.json %s is not in the catalogue with its exact bytes", b.Name)
		}
	}
	// What the issue asks the catalogue to cover, at least.
	for _, id := range []string{
		"frame-not-json-truncated", "frame-not-object-array", "outbound-send-missing-chat_id", "outbound-send-chat_id-number",
		"frame-unknown-type", "outbound-unknown-action-keys", "frame-oversize", "http-policy-not-json-oversize",
		"binary-invalid-utf8", "binary-valid-outbound", "frame-without-newline", "hello-second", "ack-unknown-buffer-id",
		"ack-foreign-buffer-id", "upgrade-token-garbage", "upgrade-token-forged", "upgrade-token-expired", "upgrade-token-revoked",
		"upgrade-token-unknown-gateway", "upgrade-token-other-secret", "media-id-dotdot", "media-id-encoded-slash",
		"media-id-uppercase", "media-id-too-short", "media-upload-over-cap", "upgrade-bad-token-flood",
	} {
		if _, ok := ids[id]; !ok {
			t.Errorf("the catalogue lacks %s", id)
		}
	}
}

// TestCatalogueAgainstRelaysim runs every entry against the reference
// connector; each must pass, none may be skipped.
func TestCatalogueAgainstRelaysim(t *testing.T) {
	es, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	_, target := relaysim(t)
	outs := Run(context.Background(), target, es)
	for _, o := range outs {
		t.Run(o.ID, func(t *testing.T) {
			if o.Result != Pass {
				t.Errorf("%s", o)
			}
		})
	}
}

// TestCatalogueCatchesDeviations shows the runner fails a connector that
// breaks what the entries test: against each deviation, the named entries
// fail and the rest of the same requirement's entries are judged as usual.
func TestCatalogueCatchesDeviations(t *testing.T) {
	es, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Entry{}
	for _, e := range es {
		byID[e.ID] = e
	}
	for _, tc := range []struct {
		dev  deviation.ID
		fail []string
	}{
		{deviation.SimMalformedNoClose, []string{"frame-not-json-truncated", "frame-not-object-array", "binary-invalid-utf8"}},
		{deviation.SimOversizeNoClose, []string{"frame-oversize", "frame-oversize-unterminated"}},
		{deviation.SimDropUnknownFramesClose, []string{"frame-unknown-type"}},
		{deviation.SimHTTP401Auth, []string{"upgrade-token-forged", "upgrade-token-expired", "upgrade-token-missing"}},
		{deviation.SimExpiredAsUnauthorized, []string{"upgrade-token-expired"}},
		{deviation.SimCrossTenantMedia, []string{"media-download-other-tenant"}},
		{deviation.SimPlatformNotFrontedDropped, []string{"outbound-platform-not-fronted"}},
		{deviation.SimNoDescriptorPerHello, []string{"hello-second"}},
		{deviation.SimUnsupportedOpSuccess, []string{"outbound-op-unknown"}},
	} {
		t.Run(tc.dev.Name(), func(t *testing.T) {
			t.Parallel()
			_, target := relaysim(t, tc.dev)
			var sel []Entry
			for _, id := range tc.fail {
				e, ok := byID[id]
				if !ok {
					t.Fatalf("no entry %s", id)
				}
				sel = append(sel, e)
			}
			target.Timeout = 2 * time.Second
			for _, o := range Run(context.Background(), target, sel) {
				if o.Result != Fail {
					t.Errorf("against %s: %s; want fail", tc.dev, o)
				} else {
					t.Logf("caught: %s", o)
				}
			}
		})
	}
}

// ExampleRun shows the runner's use against any connector.
func ExampleRun() {
	es, _ := Load()
	fmt.Println(len(es) > 100, Requirements(es)[0])
	// Output: true AUTH-005
}

// TestUnshedFlood: against a connector that does not throttle, the flood
// entry fails marked Unshed, so a conformance suite can tell "sheds wrongly"
// from "does not shed".
func TestUnshedFlood(t *testing.T) {
	es, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	s, err := simulator.New(simulator.Options{Platforms: []string{"telegram"}, AuthFailBurst: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var creds []Creds
	for _, g := range []simulator.GatewaySpec{{GatewayID: "gw-a", Tenant: "tenant-a"}, {GatewayID: "gw-b", Tenant: "tenant-b"}} {
		e, err := s.EnrollGateway(g)
		if err != nil {
			t.Fatal(err)
		}
		creds = append(creds, Creds{GatewayID: e.GatewayID, Secret: e.Secret})
	}
	var flood []Entry
	for _, e := range es {
		if e.Reaction.Throttle != nil {
			flood = append(flood, e)
		}
	}
	if len(flood) == 0 {
		t.Fatal("no throttle entry")
	}
	flood[0].Input.Repeat = 40 // enough to show no shedding, quickly
	target := Target{RelayURL: s.RelayURL(), BaseURL: s.URL(), Platform: "telegram", Gateway: creds[0], Other: creds[1]}
	o := Run(context.Background(), target, flood[:1])[0]
	if o.Result != Fail || !o.Unshed {
		t.Errorf("against a connector that never throttles: %s (unshed %v); want fail, unshed", o, o.Unshed)
	}
}
