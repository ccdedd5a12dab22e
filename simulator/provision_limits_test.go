package simulator_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// provision posts a provision request and returns the status, the error
// text of an error answer and the Retry-After header.
func provision(t *testing.T, s *simulator.Server, identity string, req contract.ProvisionRequest) (int, string, string) {
	t.Helper()
	if req.RouteKeys == nil {
		req.RouteKeys = []string{}
	}
	if req.Platform == "" {
		req.Platform = "discord"
	}
	httpReq, _ := http.NewRequest(http.MethodPost, s.URL()+contract.PathProvision, strings.NewReader(string(jsonBody(req))))
	httpReq.Header = bearerHeader(identity)
	resp, err := http.DefaultClient.Do(httpReq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e contract.ErrorBody
	if resp.StatusCode != 200 {
		var b [4096]byte
		n, _ := resp.Body.Read(b[:])
		jsonUnmarshal(b[:n], &e)
	}
	return resp.StatusCode, e.Error, resp.Header.Get("Retry-After")
}

// One tenant's burst of provision calls is answered 429 with Retry-After
// past the burst, without holding back another tenant, and refills on
// the server's clock; enroll spends the same budget.
func TestProvisionRateLimitPerTenant(t *testing.T) {
	m := newManual()
	s := start(t, simulator.Options{Clock: m, ProvisionBurst: 3, ProvisionRefill: 2 * time.Second, ProvisionTotalBurst: -1,
		IdentityTokens: map[string]string{"id-a": "a", "id-b": "b"}})
	for i := 0; i < 3; i++ {
		if code, msg, _ := provision(t, s, "id-a", contract.ProvisionRequest{GatewayID: fmt.Sprintf("gw-a%d", i)}); code != 200 {
			t.Fatalf("call %d: %d %s", i, code, msg)
		}
	}
	code, msg, after := provision(t, s, "id-a", contract.ProvisionRequest{GatewayID: "gw-a9"})
	if code != 429 || after != "2" || !strings.HasPrefix(msg, "throttled") || !strings.Contains(msg, `tenant "a"`) {
		t.Fatalf("past the burst: %d %q Retry-After %q", code, msg, after)
	}
	if _, ok := s.Gateway("gw-a9"); ok {
		t.Fatal("a throttled call created its gateway")
	}
	// Enroll spends the same budget.
	tok, _ := s.CreateEnrollmentToken(simulator.EnrollmentTokenSpec{Tenant: "a"})
	var e contract.ErrorBody
	if code := httpDo(t, "POST", s.URL()+contract.PathEnroll, bearerHeader("id-a"), jsonBody(contract.EnrollRequest{EnrollmentToken: tok.Token, GatewayID: "gw-e"}), &e); code != 429 {
		t.Fatalf("enroll past the burst: %d %+v", code, e)
	}
	// Another tenant has its own budget.
	if code, msg, _ := provision(t, s, "id-b", contract.ProvisionRequest{GatewayID: "gw-b"}); code != 200 {
		t.Fatalf("other tenant: %d %s", code, msg)
	}
	m.Advance(2 * time.Second)
	if code, msg, _ := provision(t, s, "id-a", contract.ProvisionRequest{GatewayID: "gw-a9"}); code != 200 {
		t.Fatalf("after the refill: %d %s", code, msg)
	}
	// The throttled enroll did not burn the enrollment token.
	m.Advance(2 * time.Second)
	if code := httpDo(t, "POST", s.URL()+contract.PathEnroll, bearerHeader("id-a"), jsonBody(contract.EnrollRequest{EnrollmentToken: tok.Token, GatewayID: "gw-e"}), &e); code != 200 {
		t.Fatalf("enroll after the refill: %d %+v", code, e)
	}
	// Bad bodies and refused bearers spend nothing of it.
	s.Reset()
	for i := 0; i < 10; i++ {
		if code, _, _ := provision(t, s, "id-a", contract.ProvisionRequest{GatewayID: "gw", Platform: "myspace"}); code != 400 {
			t.Fatalf("bad body: %d", code)
		}
	}
	if code, msg, _ := provision(t, s, "id-a", contract.ProvisionRequest{GatewayID: "gw-ok"}); code != 200 {
		t.Fatalf("bad bodies spent the budget: %d %s", code, msg)
	}
}

// All tenants together have a budget too.
func TestProvisionRateLimitTotal(t *testing.T) {
	m := newManual()
	s := start(t, simulator.Options{Clock: m, ProvisionBurst: 100, ProvisionTotalBurst: 4, ProvisionTotalRefill: 500 * time.Millisecond,
		IdentityTokens: map[string]string{"id-a": "a", "id-b": "b"}})
	for i := 0; i < 4; i++ {
		id := []string{"id-a", "id-b"}[i%2]
		if code, msg, _ := provision(t, s, id, contract.ProvisionRequest{GatewayID: fmt.Sprintf("gw-%d", i)}); code != 200 {
			t.Fatalf("call %d: %d %s", i, code, msg)
		}
	}
	code, msg, after := provision(t, s, "id-b", contract.ProvisionRequest{GatewayID: "gw-x"})
	if code != 429 || after != "1" || !strings.Contains(msg, "all tenants") {
		t.Fatalf("past the total burst: %d %q Retry-After %q", code, msg, after)
	}
	m.Advance(500 * time.Millisecond)
	if code, msg, _ := provision(t, s, "id-b", contract.ProvisionRequest{GatewayID: "gw-x"}); code != 200 {
		t.Fatalf("after the refill: %d %s", code, msg)
	}
}

// Provision and enroll stop creating gateways at the per-tenant and total
// caps (507), while calls for existing gateways keep working.
func TestProvisionGatewayCaps(t *testing.T) {
	s := start(t, simulator.Options{MaxGateways: 3, MaxGatewaysPerTenant: 2, ProvisionBurst: -1, ProvisionTotalBurst: -1,
		IdentityTokens: map[string]string{"id-a": "a", "id-b": "b"}})
	for _, id := range []string{"gw-a1", "gw-a2"} {
		if code, msg, _ := provision(t, s, "id-a", contract.ProvisionRequest{GatewayID: id}); code != 200 {
			t.Fatalf("%s: %d %s", id, code, msg)
		}
	}
	code, msg, _ := provision(t, s, "id-a", contract.ProvisionRequest{GatewayID: "gw-a3"})
	if code != 507 || !strings.Contains(msg, `tenant "a" holds 2 gateways`) {
		t.Fatalf("past the tenant cap: %d %q", code, msg)
	}
	if code, msg, _ := provision(t, s, "id-a", contract.ProvisionRequest{GatewayID: "gw-a1", Platform: "telegram"}); code != 200 {
		t.Fatalf("an existing gateway, another platform: %d %s", code, msg)
	}
	if code, msg, _ := provision(t, s, "id-b", contract.ProvisionRequest{GatewayID: "gw-b1"}); code != 200 {
		t.Fatalf("tenant b's first: %d %s", code, msg)
	}
	code, msg, _ = provision(t, s, "id-b", contract.ProvisionRequest{GatewayID: "gw-b2"})
	if code != 507 || !strings.Contains(msg, "holds 3 gateways") {
		t.Fatalf("past the total cap: %d %q", code, msg)
	}
	// Enroll: refused the same way, and the token survives for later.
	tok, _ := s.CreateEnrollmentToken(simulator.EnrollmentTokenSpec{Tenant: "b"})
	var e contract.ErrorBody
	if code := httpDo(t, "POST", s.URL()+contract.PathEnroll, bearerHeader("id-b"), jsonBody(contract.EnrollRequest{EnrollmentToken: tok.Token, GatewayID: "gw-b2"}), &e); code != 507 {
		t.Fatalf("enroll past the cap: %d %+v", code, e)
	}
	if err := s.RevokeGateway("gw-a2"); err != nil {
		t.Fatal(err)
	}
	// A revoked record still counts; provisioning its id again replaces it.
	if code, msg, _ := provision(t, s, "id-a", contract.ProvisionRequest{GatewayID: "gw-a2"}); code != 200 {
		t.Fatalf("re-provision a revoked id: %d %s", code, msg)
	}
	if len(s.Gateways()) != 3 {
		t.Fatalf("%d gateways", len(s.Gateways()))
	}
}

// Re-provisioning one gateway never grows its record or the store: new
// route keys replace the old, and a call that changes nothing writes
// nothing. Before, route keys were merged, and 150 calls with fresh keys
// made one record, and every store line that repeated it, grow without
// bound.
func TestReprovisionNeverGrowsRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store")
	st, err := simulator.OpenFileStore(path, simulator.FileStoreOptions{Fsync: simulator.FsyncNever})
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, simulator.Options{Store: st, ProvisionBurst: -1, ProvisionTotalBurst: -1, IdentityTokens: map[string]string{"id": "t"}})
	keys := func(round int) []string {
		out := make([]string, 64)
		for i := range out {
			out[i] = fmt.Sprintf("%03d-%03d-%s", round, i, strings.Repeat("k", 200))
		}
		return out
	}
	for round := 0; round < 150; round++ {
		if code, msg, _ := provision(t, s, "id", contract.ProvisionRequest{GatewayID: "gw", BotID: "bot", RouteKeys: keys(round)}); code != 200 {
			t.Fatalf("round %d: %d %s", round, code, msg)
		}
	}
	g, _ := s.Gateway("gw")
	if len(g.RouteKeys) != 64 || g.RouteKeys[0] != keys(149)[0] {
		t.Fatalf("after 150 calls the record holds %d route keys, first %.10q", len(g.RouteKeys), g.RouteKeys[0])
	}
	// 150 writes of one bounded record: linear, about 150 x 15 KiB.
	fi, _ := os.Stat(path)
	if fi.Size() > 4<<20 {
		t.Fatalf("store grew to %d bytes", fi.Size())
	}
	// The same call again writes nothing at all.
	for i := 0; i < 20; i++ {
		provision(t, s, "id", contract.ProvisionRequest{GatewayID: "gw", BotID: "bot", RouteKeys: keys(149)})
	}
	if again, _ := os.Stat(path); again.Size() != fi.Size() {
		t.Fatalf("20 unchanged re-provisions grew the store from %d to %d bytes", fi.Size(), again.Size())
	}
}

// Fields that a record keeps are bounded in size, with a 400 naming the
// field.
func TestProvisionFieldSizes(t *testing.T) {
	s := start(t, simulator.Options{IdentityTokens: map[string]string{"id": "t"}})
	long := strings.Repeat("x", 257)
	for _, c := range []struct {
		field string
		req   contract.ProvisionRequest
	}{
		{"gatewayId", contract.ProvisionRequest{GatewayID: long}},
		{"instanceId", contract.ProvisionRequest{GatewayID: "gw", InstanceID: long}},
		{"botId", contract.ProvisionRequest{GatewayID: "gw", BotID: long}},
		{"wakeUrl", contract.ProvisionRequest{GatewayID: "gw", WakeURL: "http://x/" + strings.Repeat("w", 2048)}},
		{"routeKeys", contract.ProvisionRequest{GatewayID: "gw", RouteKeys: make([]string, 65)}},
		{"routeKeys.1", contract.ProvisionRequest{GatewayID: "gw", RouteKeys: []string{"k", long}}},
	} {
		if code, msg, _ := provision(t, s, "id", c.req); code != 400 || !strings.HasPrefix(msg, c.field+":") {
			t.Errorf("%s: %d %q", c.field, code, msg)
		}
	}
	var e contract.ErrorBody
	tok, _ := s.CreateEnrollmentToken(simulator.EnrollmentTokenSpec{Tenant: "t"})
	if code := httpDo(t, "POST", s.URL()+contract.PathEnroll, bearerHeader("id"), jsonBody(contract.EnrollRequest{EnrollmentToken: tok.Token, GatewayID: long}), &e); code != 400 || !strings.Contains(e.Error, "gatewayId") {
		t.Errorf("enroll gatewayId: %d %+v", code, e)
	}
}
