package simulator_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

// POST /media re-hosts an attachment for an injected event: the gateway
// downloads it with its own token, and only its tenant can.
func TestControlMediaRehostsAnAttachment(t *testing.T) {
	s := start(t, simulator.Options{PingInterval: -1, MediaMaxBytes: 64})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw-other", Tenant: "other"})
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	up, err := s.ControlClient().UploadMedia(ctx, simulator.MediaUploadRequest{GatewayID: "gw1", Filename: "notes.txt",
		ContentType: "text/plain", DataB64: base64.StdEncoding.EncodeToString([]byte("twelve bytes"))})
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	if up.Size != 12 || up.URL != s.URL()+contract.PathMedia+"/"+up.ID || len(up.ID) != 32 {
		t.Fatalf("answer %+v", up)
	}
	download := func(gatewayID string) (int, string, http.Header) {
		tok, err := s.Token(gatewayID, contract.DefaultTokenTTL)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, up.URL, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	status, body, h := download("gw1")
	if status != http.StatusOK || body != "twelve bytes" || h.Get("Content-Type") != "text/plain" || !strings.Contains(h.Get("Content-Disposition"), "notes.txt") {
		t.Fatalf("download: %d %q %v", status, body, h)
	}
	if status, _, _ := download("gw-other"); status != http.StatusNotFound {
		t.Fatalf("another tenant's download: %d", status)
	}

	for _, c := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"gatewayId":"nope","dataB64":"eA=="}`, http.StatusNotFound, `gatewayId: no enrolled gateway "nope"`},
		{`{"gatewayId":"gw1","dataB64":"not base64!"}`, http.StatusBadRequest, "dataB64: not standard base64"},
		{`{"gatewayId":"gw1","dataB64":""}`, http.StatusBadRequest, "dataB64: empty"},
		{`{"gatewayId":"gw1","dataB64":"` + base64.StdEncoding.EncodeToString(make([]byte, 65)) + `"}`, http.StatusRequestEntityTooLarge, "dataB64: over the media size limit"},
		{`{"gatewayId":"gw1","dataB64":"eA==","contentType":"a\r\nb: c"}`, http.StatusBadRequest, "contentType"},
		{`{"gatewayId":"gw1","dataB64":"eA==","filename":"` + strings.Repeat("f", 256) + `"}`, http.StatusBadRequest, "filename"},
		{`{"gatewayId":"gw1","dataB46":"eA=="}`, http.StatusBadRequest, `unknown field "dataB46" (did you mean "dataB64"?)`},
	} {
		if st, msg := rawCtl(t, s, http.MethodPost, "media", jsonCT, c.body); st != c.status || !strings.Contains(msg, c.want) {
			t.Errorf("%.60s: %d %q, want %d %q", c.body, st, msg, c.status, c.want)
		}
	}
}

// GET /outbound?since=N answers only the records after N, so a reader
// polls what is new.
func TestControlOutboundSince(t *testing.T) {
	s := start(t, simulator.Options{PingInterval: -1, HandshakeTimeout: -1})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	for _, text := range []string{"a", "b", "c"} {
		g.call("discord", contract.Action{Op: contract.OpSend, ChatID: "c1", Content: text})
	}
	var all, after simulator.OutboundList
	ctl(t, s, http.MethodGet, "outbound?gatewayId=gw1", nil, &all)
	ctl(t, s, http.MethodGet, "outbound?gatewayId=gw1&since="+jsonNum(all.Outbound[0].Seq), nil, &after)
	if len(all.Outbound) != 3 || len(after.Outbound) != 2 || after.Outbound[0].Seq != all.Outbound[1].Seq {
		t.Fatalf("all %d, after the first %d", len(all.Outbound), len(after.Outbound))
	}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	if recs, err := s.ControlClient().OutboundSince(ctx, "", all.Outbound[1].Seq); err != nil || len(recs) != 1 || recs[0].Seq != all.Outbound[2].Seq {
		t.Fatalf("OutboundSince: %v %v", recs, err)
	}
	if st, msg := rawCtl(t, s, http.MethodGet, "outbound?since=x", nil, ""); st != http.StatusBadRequest || !strings.Contains(msg, "since") {
		t.Fatalf("since=x: %d %q", st, msg)
	}
}
