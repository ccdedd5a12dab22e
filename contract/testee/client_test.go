package testee_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/contract/testee"
)

// seen is one request as the test server received it.
type seen struct {
	method, path, query, auth, contentType, body string
}

// server answers every request with status and body and records it.
func server(t *testing.T, status int, body string) (*testee.Client, *[]seen) {
	t.Helper()
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)})
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return testee.NewClient(srv.URL+"/ctl/", "tok-1"), &got
}

func TestClientSendsTypedBodies(t *testing.T) {
	c, got := server(t, 200, `{"delivery":"buffered","bufferId":"b-1","messageId":"own-7","chatId":"room-3","extra":true}`)
	ctx := context.Background()
	d, err := c.Inbound(ctx, testee.InboundRequest{GatewayID: "gw", Event: json.RawMessage(`{"text":"hi"}`), Addressed: true})
	if err != nil {
		t.Fatal(err)
	}
	if d != (testee.Delivery{Mode: testee.DeliveryBuffered, BufferID: "b-1", MessageID: "own-7", ChatID: "room-3"}) {
		t.Fatalf("delivery %+v", d)
	}
	if _, err := c.Outbound(ctx, "gw a&b"); err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(ctx, "gw/x"); err != nil {
		t.Fatal(err)
	}
	if err := c.AdvanceClock(ctx, 31*time.Second); err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{"POST", "/ctl/inbound", "", "Bearer tok-1", "application/json", `{"gatewayId":"gw","event":{"text":"hi"},"addressed":true}`},
		{"GET", "/ctl/outbound", "gatewayId=gw+a%26b", "Bearer tok-1", "", ""},
		{"POST", "/ctl/gateways/gw/x/revoke", "", "Bearer tok-1", "application/json", `{}`},
		{"POST", "/ctl/clock", "", "Bearer tok-1", "application/json", `{"advance":"31s"}`},
	}
	if len(*got) != len(want) {
		t.Fatalf("requests %+v", *got)
	}
	for i, w := range want {
		if (*got)[i] != w {
			t.Errorf("request %d: got %+v, want %+v", i, (*got)[i], w)
		}
	}
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"json error body", `{"error":"gatewayId: no enrolled gateway \"x\""}`, 404, `gatewayId: no enrolled gateway "x"`},
		{"plain text", "404 page not found\n", 404, "404 page not found"},
		{"empty", "", 503, "Service Unavailable"},
		{"long text", strings.Repeat("é", 400), 500, strings.Repeat("é", 256) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := server(t, tc.status, tc.body)
			_, err := c.Health(ctx)
			var e *testee.Error
			if !errors.As(err, &e) || e.Status != tc.status || e.Message != tc.want || e.Method != "GET" || e.Path != "/health" {
				t.Fatalf("got %#v (%v)", e, err)
			}
			if strings.Contains(err.Error(), "tok-1") {
				t.Fatalf("the token leaked into %q", err)
			}
		})
	}
}

func TestClientAnswerLimit(t *testing.T) {
	c, _ := server(t, 200, `{"outbound":[`+strings.Repeat(`{"op":"send"},`, 100)+`{"op":"send"}]}`)
	c.MaxResponseBytes = 1024
	if _, err := c.Outbound(context.Background(), "gw"); err == nil || !strings.Contains(err.Error(), "1024-byte limit") {
		t.Fatalf("over the limit: %v", err)
	}
	c.MaxResponseBytes = 0
	if recs, err := c.Outbound(context.Background(), "gw"); err != nil || len(recs) != 101 {
		t.Fatalf("within the default limit: %d %v", len(recs), err)
	}
}

func TestClientBadAnswer(t *testing.T) {
	c, _ := server(t, 200, `<html>`)
	if _, err := c.Health(context.Background()); err == nil || !strings.Contains(err.Error(), "decode answer") {
		t.Fatalf("non-JSON 2xx: %v", err)
	}
	// An empty 2xx answer is fine for routes whose answer the contract
	// leaves open.
	c, _ = server(t, 204, "")
	if err := c.RefuseConnections(context.Background(), true); err != nil {
		t.Fatal(err)
	}
}

func TestClientHonoursContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := &testee.Client{BaseURL: srv.URL}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Clock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

func TestDurationJSON(t *testing.T) {
	var v struct{ D testee.Duration }
	for in, want := range map[string]time.Duration{`{"D":"1.5s"}`: 1500 * time.Millisecond, `{"D":30}`: 30 * time.Second, `{"D":0.25}`: 250 * time.Millisecond} {
		if err := json.Unmarshal([]byte(in), &v); err != nil || time.Duration(v.D) != want {
			t.Errorf("%s: %v %v", in, time.Duration(v.D), err)
		}
	}
	for _, in := range []string{`{"D":"soon"}`, `{"D":true}`, `{"D":1e300}`} {
		if err := json.Unmarshal([]byte(in), &v); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
	if b, _ := json.Marshal(testee.ClockAdvance{Advance: testee.Duration(90 * time.Second)}); string(b) != `{"advance":"1m30s"}` {
		t.Errorf("marshal %s", b)
	}
}

func TestForwardJSON(t *testing.T) {
	raw, err := testee.ForwardJSON(contract.Forward{Platform: "discord", Method: "POST", Path: "/interactions", Headers: [][2]string{{"Content-Type", "application/json"}}, Body: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(raw); got != `{"platform":"discord","botId":"","method":"POST","path":"/interactions","headers":[["Content-Type","application/json"]],"bodyB64":"e30="}` {
		t.Fatalf("%s", got)
	}
}

func TestHealthHelpers(t *testing.T) {
	h := testee.Health{Features: []string{"wake", "media"}}
	if !h.HasFeature("media") || h.HasFeature("policy") {
		t.Fatal("HasFeature")
	}
	b := testee.Buffer{Entries: []testee.BufferEntry{{BufferID: "a"}, {BufferID: "b"}}}
	if got := b.IDs(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatal(got)
	}
}
