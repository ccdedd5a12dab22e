package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// The memory-bound flags reach the simulator: with a one-entry buffer the
// second event for the (unconnected) development gateway is refused 507,
// naming the flag, and the usage route reports the caps at work.
func TestLimitFlagsReachTheSimulator(t *testing.T) {
	st := startRun(t, []string{"--addr", "127.0.0.1:0", "--buffer-max-entries", "1"}, map[string]string{"RELAYSIM_QUEUE_WAIT": "-1s"})
	base := "http" + strings.TrimPrefix(strings.TrimSuffix(st.env["GATEWAY_RELAY_URL"], "/relay"), "ws")
	event := `{"text":"hi","message_type":"text","source":{"platform":"discord","chat_id":"c","chat_type":"dm","user_id":"u"}}`
	post := func() (int, string) {
		body := `{"gatewayId":"gw-dev","event":` + event + `}`
		resp, err := http.Post(base+"/_relaysim/inbound", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	if code, body := post(); code != http.StatusOK || !strings.Contains(body, `"buffered"`) {
		t.Fatalf("first event: %d %s", code, body)
	}
	if code, body := post(); code != http.StatusInsufficientStorage || !strings.Contains(body, "--buffer-max-entries") {
		t.Fatalf("second event: %d %s, want 507 naming --buffer-max-entries", code, body)
	}
	resp, err := http.Get(base + "/_relaysim/usage")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var u struct {
		BufferedEntries int `json:"bufferedEntries"`
		BufferRefused   int `json:"bufferRefused"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil || u.BufferedEntries != 1 || u.BufferRefused != 1 {
		t.Fatalf("usage = %+v (%v), want 1 buffered and 1 refused", u, err)
	}
}
