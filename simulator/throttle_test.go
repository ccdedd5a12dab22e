package simulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// dialFrom opens /relay with token from the loopback address ip and
// returns the close the simulator sent (code, reason), or 0 when the
// socket stayed open until the hello was answered with a descriptor.
func dialFrom(t *testing.T, s *simulator.Server, ip, token string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	defer hc.CloseIdleConnections()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	c, resp, err := websocket.Dial(ctx, s.RelayURL(), &websocket.DialOptions{HTTPClient: hc, HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial from %s: %v (response %v)", ip, err, resp)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"hello","platform":"telegram","botId":""}`+"\n")); err != nil {
		return closeOf(t, err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil {
		return closeOf(t, err)
	}
	if !strings.Contains(string(msg), `"descriptor"`) {
		t.Fatalf("first frame from %s: %s", ip, msg)
	}
	return 0, ""
}

func closeOf(t *testing.T, err error) (int, string) {
	t.Helper()
	var ce websocket.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("socket ended without a close frame: %v", err)
	}
	return int(ce.Code), ce.Reason
}

func throttleSim(t *testing.T, clk *clock.Manual, burst int) *simulator.Server {
	t.Helper()
	s, err := simulator.New(simulator.Options{Clock: clk, PingInterval: -1, AuthFailBurst: burst, AuthFailRefill: time.Second,
		Platforms: []string{"telegram"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, id := range []string{"gw-a", "gw-b"} {
		if _, err := s.EnrollGateway(simulator.GatewaySpec{GatewayID: id, Tenant: "t-" + id}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// A flood of bad tokens from one address is answered 4401 up to the burst
// and 1013 "throttled" after it; a gateway with a good token from the same
// address is never held back; time refills the burst.
func TestThrottleBadTokenFloodPerAddress(t *testing.T) {
	clk := clock.NewManual(time.Unix(1_800_000_000, 0))
	s := throttleSim(t, clk, 5)
	forged := contract.MintTokenTTL("gw-a", "not-the-secret", clk.Now(), time.Minute)
	since := s.JournalSeq()
	for i := 0; i < 5; i++ {
		if code, reason := dialFrom(t, s, "127.0.0.1", forged); code != contract.CloseUnauthorized || reason != contract.ReasonUnauthorized {
			t.Fatalf("bad token %d: close %d %q, want 4401 unauthorized", i, code, reason)
		}
	}
	for i := 0; i < 3; i++ {
		if code, reason := dialFrom(t, s, "127.0.0.1", "garbage"); code != contract.CloseTryAgainLater || reason != contract.ReasonThrottled {
			t.Fatalf("bad token past the burst: close %d %q, want 1013 throttled", code, reason)
		}
	}
	good, _ := s.Token("gw-b", time.Minute)
	if code, reason := dialFrom(t, s, "127.0.0.1", good); code != 0 {
		t.Fatalf("good token of another tenant during the flood: close %d %q", code, reason)
	}
	goodA, _ := s.Token("gw-a", time.Minute)
	if code, reason := dialFrom(t, s, "127.0.0.1", goodA); code != 0 {
		t.Fatalf("good token of the gateway the flood names: close %d %q", code, reason)
	}
	// Another address has its own burst.
	if code, _ := dialFrom(t, s, "127.0.0.2", "garbage"); code != contract.CloseUnauthorized {
		t.Fatalf("bad token from another address: close %d, want 4401", code)
	}
	clk.Advance(time.Second)
	if code, _ := dialFrom(t, s, "127.0.0.1", "garbage"); code != contract.CloseUnauthorized {
		t.Fatalf("after one refill period: close %d, want 4401", code)
	}
	if code, _ := dialFrom(t, s, "127.0.0.1", "garbage"); code != contract.CloseTryAgainLater {
		t.Fatalf("refilled only one: close %d, want 1013", code)
	}
	throttled := 0
	for _, e := range s.Journal(since) {
		if e.Kind == simulator.JournalAuth && e.Code == contract.CloseTryAgainLater {
			throttled++
			if e.Reason != contract.ReasonThrottled || strings.Contains(e.Detail, forged) || !strings.Contains(e.Detail, "127.0.0.1") {
				t.Errorf("throttle journal entry %+v", e)
			}
		}
	}
	if throttled != 4 {
		t.Errorf("%d throttle entries journaled, want 4", throttled)
	}
}

// Bad tokens naming one enrolled gateway from many addresses exhaust that
// gateway id's burst; the gateway itself still connects.
func TestThrottleBadTokenFloodPerGateway(t *testing.T) {
	clk := clock.NewManual(time.Unix(1_800_000_000, 0))
	s := throttleSim(t, clk, 3)
	forged := contract.MintTokenTTL("gw-a", "guess", clk.Now(), time.Minute)
	for i := 0; i < 3; i++ {
		if code, _ := dialFrom(t, s, "127.0.0."+string(rune('2'+i)), forged); code != contract.CloseUnauthorized {
			t.Fatalf("attempt %d: close %d, want 4401", i, code)
		}
	}
	if code, reason := dialFrom(t, s, "127.0.0.9", forged); code != contract.CloseTryAgainLater || reason != contract.ReasonThrottled {
		t.Fatalf("fourth forged token for gw-a from a fresh address: close %d %q, want 1013 throttled", code, reason)
	}
	// Made-up gateway ids share only the address bucket.
	unknown := contract.MintTokenTTL("gw-nobody", "guess", clk.Now(), time.Minute)
	if code, _ := dialFrom(t, s, "127.0.0.9", unknown); code != contract.CloseUnauthorized {
		t.Fatalf("unknown gateway id from an address with burst left: close %d, want 4401", code)
	}
	good, _ := s.Token("gw-a", time.Minute)
	if code, reason := dialFrom(t, s, "127.0.0.9", good); code != 0 {
		t.Fatalf("gw-a with its good token: close %d %q", code, reason)
	}
}

func TestThrottleDisabled(t *testing.T) {
	clk := clock.NewManual(time.Unix(1_800_000_000, 0))
	s := throttleSim(t, clk, -1)
	for i := 0; i < 40; i++ {
		if code, _ := dialFrom(t, s, "127.0.0.1", "garbage"); code != contract.CloseUnauthorized {
			t.Fatalf("attempt %d with throttling disabled: close %d, want 4401", i, code)
		}
	}
}

// Reset forgets the throttle's state.
func TestThrottleReset(t *testing.T) {
	clk := clock.NewManual(time.Unix(1_800_000_000, 0))
	s := throttleSim(t, clk, 1)
	dialFrom(t, s, "127.0.0.1", "garbage")
	if code, _ := dialFrom(t, s, "127.0.0.1", "garbage"); code != contract.CloseTryAgainLater {
		t.Fatalf("close %d, want 1013", code)
	}
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	if code, _ := dialFrom(t, s, "127.0.0.1", "garbage"); code != contract.CloseUnauthorized {
		t.Fatalf("after Reset: close %d, want 4401", code)
	}
}

// Refused tokens on the policy and media routes spend a burst of their
// own: past it they get 429 with Retry-After and a JSON "throttled", while
// upgrades from that address still get their own burst, and a good token
// is served on every route.
func TestThrottleHTTPRoutes(t *testing.T) {
	clk := clock.NewManual(time.Unix(1_800_000_000, 0))
	s := throttleSim(t, clk, 3)
	forged := contract.MintTokenTTL("gw-a", "guess", clk.Now(), time.Minute)
	policy := s.URL() + "/relay/policy"
	upload := s.URL() + "/relay/media"
	download := s.URL() + "/relay/media/00000000000000000000000000000000"
	body := jsonBody(contract.PolicyRequest{Platform: "telegram", FreeResponseScopes: []string{}})
	since := s.JournalSeq()

	status := func(method, url, token string, body []byte) (int, string, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		var e contract.ErrorBody
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			t.Fatalf("%s %s: %d body is not JSON: %v", method, url, resp.StatusCode, err)
		}
		return resp.StatusCode, e.Error, resp.Header.Get("Retry-After")
	}

	for i, tc := range []struct{ method, url string }{{"POST", policy}, {"POST", upload}, {"GET", download}} {
		if code, msg, _ := status(tc.method, tc.url, forged, body); code != http.StatusUnauthorized || msg != contract.ReasonUnauthorized {
			t.Fatalf("refusal %d (%s %s): %d %q, want 401 unauthorized", i, tc.method, tc.url, code, msg)
		}
	}
	for _, tc := range []struct{ method, url string }{{"POST", policy}, {"POST", upload}, {"GET", download}} {
		code, msg, retry := status(tc.method, tc.url, forged, body)
		if code != http.StatusTooManyRequests || msg != contract.ReasonThrottled || retry != "1" {
			t.Fatalf("%s %s past the burst: %d %q Retry-After %q, want 429 throttled Retry-After 1", tc.method, tc.url, code, msg, retry)
		}
	}
	if code, reason := dialFrom(t, s, "127.0.0.1", "garbage"); code != contract.CloseUnauthorized {
		t.Fatalf("a bad upgrade after the HTTP flood: close %d %q, want 4401 (upgrades have their own burst)", code, reason)
	}
	good, _ := s.Token("gw-a", time.Minute)
	if code := httpDo(t, "POST", policy, bearerHeader(good), body, nil); code != http.StatusOK {
		t.Fatalf("policy with gw-a's good token during the flood: %d, want 200", code)
	}
	clk.Advance(time.Second)
	if code, _, _ := status("POST", policy, forged, body); code != http.StatusUnauthorized {
		t.Fatalf("after one refill period: %d, want 401", code)
	}
	for _, e := range s.Journal(since) {
		if strings.Contains(e.Detail, forged) {
			t.Errorf("journal entry carries the token: %+v", e)
		}
	}
}

// Refused identity bearers on provision and enroll are throttled per
// address with a budget of their own; an accepted identity bearer is
// never held back, and upgrades keep their own burst.
func TestThrottleIdentityRoutes(t *testing.T) {
	clk := clock.NewManual(time.Unix(1_800_000_000, 0))
	s, err := simulator.New(simulator.Options{Clock: clk, PingInterval: -1, AuthFailBurst: 2, AuthFailRefill: time.Second,
		Platforms: []string{"telegram"}, IdentityTokens: map[string]string{"good-identity": "t1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	provision := s.URL() + contract.PathProvision
	enrollURL := s.URL() + contract.PathEnroll
	body := jsonBody(contract.ProvisionRequest{GatewayID: "gw-id", Platform: "telegram", RouteKeys: []string{}})
	bad := bearerHeader("not-an-identity")
	var e contract.ErrorBody
	for i, url := range []string{provision, enrollURL} {
		if code := httpDo(t, "POST", url, bad, body, &e); code != http.StatusUnauthorized {
			t.Fatalf("refusal %d: %d %q, want 401", i, code, e.Error)
		}
	}
	for _, url := range []string{provision, enrollURL} {
		if code := httpDo(t, "POST", url, bad, body, &e); code != http.StatusTooManyRequests || e.Error != contract.ReasonThrottled {
			t.Fatalf("%s past the burst: %d %q, want 429 throttled", url, code, e.Error)
		}
	}
	var ok contract.ProvisionResponse
	if code := httpDo(t, "POST", provision, bearerHeader("good-identity"), body, &ok); code != http.StatusOK || ok.Secret == "" {
		t.Fatalf("a good identity bearer during the flood: %d", code)
	}
	if code, _ := dialFrom(t, s, "127.0.0.1", "garbage"); code != contract.CloseUnauthorized {
		t.Fatalf("a bad upgrade after the identity flood: close %d, want 4401 (its own burst)", code)
	}
	clk.Advance(time.Second)
	if code := httpDo(t, "POST", provision, bad, body, &e); code != http.StatusUnauthorized {
		t.Fatalf("after one refill period: %d, want 401", code)
	}
}
