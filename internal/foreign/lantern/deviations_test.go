package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

// TestDeviationTableInDoc keeps the table of doc.go and the deviations
// slice identical: same names, requirements and order.
func TestDeviationTableInDoc(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^//\t([a-z0-9-]+)\s+([A-Z]+-\d{3})\s+(\S.*)$`)
	var got [][2]string
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		got = append(got, [2]string{m[1], m[2]})
	}
	var want [][2]string
	for _, d := range deviations {
		want = append(want, [2]string{d.name, d.requirement})
		if _, err := parseDeviation(d.name); err != nil {
			t.Errorf("%s: %v", d.name, err)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("doc.go table %v\ndeviations.go %v", got, want)
	}
	if _, err := parseDeviation("hellos-sorted,null-reply-to-omitted"); err == nil {
		t.Error("two deviations at once accepted")
	}
	if _, err := parseDeviation("no-such-bug"); err == nil {
		t.Error("an unknown deviation accepted")
	}
}

// deviationTests proves each deviation changes the behaviour it names:
// every test runs lantern once without it and once with it, and checks
// both sides. Deviations proven by a test of their own name it here.
var deviationTests = map[string]func(t *testing.T, dev string){
	devLadderWithoutJitter:    nil, // TestBackoffJitterSpread
	devReplayDroppedUnacked:   nil, // TestDedupeOfReplay
	devReplayAckedTwice:       nil, // TestDedupeOfReplay
	devExpiredCountsAsStrike:  nil, // TestExpired4401
	devForwardAckedOnArrival:  testForwardAcks,
	devForwardAckedTwice:      testForwardAcks,
	devContentAddressedIDs:    testIdenticalPendingActions,
	devFenceReopenUnbudgeted:  testFenceSplit,
	devLimitOfDefault:         testLimitOfDestination,
	devInterruptCancelsChat:   testGroupInterrupt,
	devBearerToConnectorPaths: testDownloadBearer,
	devHellosSorted:           testHelloOrder,
	devDedupeWithoutMessageID: testEventsWithoutID,
	devDiscordScopeInKey:      testDiscordSessionKey,
	devNullReplyToOmitted:     testNullReplyTo,
}

func TestDeviations(t *testing.T) {
	for _, d := range deviations {
		fn, ok := deviationTests[d.name]
		if !ok {
			t.Errorf("deviation %s has no test", d.name)
			continue
		}
		if fn == nil {
			continue
		}
		t.Run(d.name, func(t *testing.T) {
			for _, dev := range []string{"", d.name} {
				t.Run("dev="+dev, func(t *testing.T) { fn(t, dev) })
			}
		})
	}
}

func devEnv(dev string) map[string]string { return map[string]string{"LANTERN_DEVIATION": dev} }

// interaction is a buffered Discord interaction forward.
func (r *relay) forward(t *testing.T, body string) string {
	t.Helper()
	d, err := r.sim.Passthrough(r.gw, contract.Forward{Platform: r.plats[0], Method: "POST", Path: "/interactions",
		Headers: [][2]string{{"Content-Type", "application/json"}}, Body: []byte(body)})
	if err != nil || d.BufferID == "" {
		t.Fatalf("buffer a forward: %v (%s)", err, d.Mode)
	}
	return d.BufferID
}

// testForwardAcks: a forward that cannot be admitted (a /reject slash
// command) is never acked, one that is admitted is acked once (IDLE-015).
func testForwardAcks(t *testing.T, dev string) {
	r := newRelay(t, []string{"discord"}, nil)
	reject := r.forward(t, `{"id":"i-1","type":2,"channel_id":"c-1","user":{"id":"u-1"},"data":{"name":"reject"}}`)
	ping := r.forward(t, `{"id":"i-2","type":1}`)
	probe := r.inject(t, dm("discord", "probe")).BufferID
	r.start(t, devEnv(dev))
	testkit.EventuallyWithin(t, testkit.SlowWait, "the probe's ack", func() bool { return r.acked(probe) })
	st := r.sim.Acks(r.gw)
	rejectAcked := !slices.Contains(r.buffered(), reject)
	switch dev {
	case "":
		if rejectAcked || !r.acked(ping) || st.Noop != 0 {
			t.Errorf("refused forward acked %v, ping acked %v, no-op acks %d; want not, once, 0", rejectAcked, r.acked(ping), st.Noop)
		}
	case devForwardAckedOnArrival:
		if !rejectAcked {
			t.Errorf("deviation: the refused forward was not acked")
		}
	case devForwardAckedTwice:
		// The reader's ack also releases the refused forward.
		if !rejectAcked || st.Noop != 1 {
			t.Errorf("deviation: refused forward acked %v, %d no-op acks; want every forward acked on arrival and the admitted one again", rejectAcked, st.Noop)
		}
	}
}

// testIdenticalPendingActions: two typing indicators in one chat, both
// pending, carry distinct requestIds (OUT-001).
func testIdenticalPendingActions(t *testing.T, dev string) {
	r := newRelay(t, []string{"telegram"}, nil)
	r.start(t, devEnv(dev))
	if _, err := r.sim.Script(simulator.ResultScript{GatewayID: r.gw, Op: "typing", Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.clk.Advance(time.Hour) })
	a := dm("telegram", "one")
	b := a
	b.text, b.id = "two", "m-"+randomHex(4)
	r.inject(t, a)
	r.inject(t, b)
	var typing []simulator.OutboundRecord
	testkit.EventuallyWithin(t, testkit.SlowWait, "two typing actions", func() bool { typing = r.actions(a.chat, "typing"); return len(typing) >= 2 })
	same := typing[0].RequestID == typing[1].RequestID
	if (dev == "") == same {
		t.Errorf("requestIds %s and %s of two identical pending typing actions", typing[0].RequestID, typing[1].RequestID)
	}
}

// testFenceSplit: a reply cut inside a code block stays within the limit,
// fences included (OUT-031).
func testFenceSplit(t *testing.T, dev string) {
	r := newRelay(t, []string{"telegram"}, withDescriptor("telegram", func(d *contract.CapabilityDescriptor) {
		d.MaxMessageLength, d.LenUnit, d.MarkdownDialect = 64, "utf16", "markdown_v2"
	}))
	r.start(t, devEnv(dev))
	m := dm("telegram", "code:\n```\n"+strings.Repeat("x", 150)+"\n```\ndone")
	r.inject(t, m)
	sends := r.replied(t, m.chat, "done")
	over := 0
	for _, c := range contents(sends) {
		if utf16Len(c) > 64 {
			over++
		}
	}
	if !strings.HasSuffix(contentOf(sends[0]), "\n```") || !strings.HasPrefix(contentOf(sends[1]), "```\n") {
		t.Errorf("the cut inside the block is not fenced: %q", contents(sends))
	}
	if (dev == "") != (over == 0) {
		t.Errorf("%d parts over 64 units: %q", over, contents(sends))
	}
}

// testLimitOfDestination: a reply toward discord (2000 chars) from a
// gateway whose default platform is telegram (4096) is split by
// discord's limit (OUT-031).
func testLimitOfDestination(t *testing.T, dev string) {
	r := newRelay(t, []string{"telegram", "discord"}, nil)
	r.start(t, devEnv(dev))
	m := dm("discord", strings.Repeat("a", 2500))
	r.inject(t, m)
	sends := r.replied(t, m.chat, m.text)
	longest := 0
	for _, c := range contents(sends) {
		longest = max(longest, len([]rune(c)))
	}
	if (dev == "") != (longest <= 2000) {
		t.Errorf("the longest part toward discord is %d characters", longest)
	}
}

// testGroupInterrupt: in a group chat two users have a session each; an
// interrupt for one cancels that turn only (IN-012).
func testGroupInterrupt(t *testing.T, dev string) {
	r := newRelay(t, []string{"telegram"}, nil)
	r.start(t, devEnv(dev))
	chat := "group-" + randomHex(3)
	a := msg{platform: "telegram", chat: chat, chatType: "group", user: "ann", text: "/slow 1000", id: "m-a"}
	b := msg{platform: "telegram", chat: chat, chatType: "group", user: "bob", text: "/slow 1500", id: "m-b"}
	marker := dm("telegram", "/slow 2500")
	r.inject(t, a)
	r.inject(t, b)
	r.inject(t, marker)
	testkit.EventuallyWithin(t, testkit.SlowWait, "both turns to start", func() bool { return len(r.actions(chat, "typing")) >= 2 })
	key := sessionKey(source{Platform: "telegram", ChatID: chat, ChatType: "group", UserID: "ann"}, false)
	if _, err := r.sim.Interrupt(r.gw, key, chat); err != nil {
		t.Fatal(err)
	}
	// The marker's turn ends a second after both group turns would have.
	r.replied(t, marker.chat, marker.text)
	got := strings.Join(contents(r.actions(chat, "send")), "|")
	if strings.Contains(got, "/slow 1000") {
		t.Errorf("the interrupted turn replied: %q", got)
	}
	if (dev == "") != strings.Contains(got, "/slow 1500") {
		t.Errorf("the other user's turn (not interrupted) replied %v: %q", strings.Contains(got, "/slow 1500"), got)
	}
}

// testDownloadBearer: /attachments carries the bearer to the connector's
// re-host only, not to another path of its origin (HTTP-022).
func testDownloadBearer(t *testing.T, dev string) {
	r := newRelay(t, []string{"telegram"}, nil)
	target, _ := url.Parse(r.sim.URL())
	var mu sync.Mutex
	auth := map[string]string{}
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		auth[req.URL.Path] = req.Header.Get("Authorization")
		mu.Unlock()
		if req.URL.Path == "/files/note.txt" {
			_, _ = w.Write([]byte("a file beside the re-host\n"))
			return
		}
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(proxy.Close)
	r.start(t, map[string]string{"GATEWAY_RELAY_URL": proxy.URL, "LANTERN_DEVIATION": dev})

	req, _ := http.NewRequest(http.MethodPost, r.sim.URL()+"/relay/media", strings.NewReader("re-hosted\n"))
	req.Header.Set("Authorization", "Bearer "+contract.MintTokenTTL(r.gw, r.secret, time.Now(), time.Minute))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("X-Media-Filename", "x.txt")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var up struct {
		ID string `json:"id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&up)
	resp.Body.Close()
	m := dm("telegram", "/attachments")
	m.mediaURLs = []string{proxy.URL + "/relay/media/" + up.ID, proxy.URL + "/files/note.txt"}
	r.inject(t, m)
	r.replied(t, m.chat, "/attachments: 10 bytes, 26 bytes")
	mu.Lock()
	defer mu.Unlock()
	if !strings.HasPrefix(auth["/relay/media/"+up.ID], "Bearer ") {
		t.Errorf("no bearer on the re-host download")
	}
	if (dev == "") != (auth["/files/note.txt"] == "") {
		t.Errorf("Authorization %q on a download outside /relay/media/", auth["/files/note.txt"])
	}
}

// testHelloOrder: hellos go out in configured order (HS-003), which is
// the order the connector answers them in.
func testHelloOrder(t *testing.T, dev string) {
	r := newRelay(t, []string{"telegram", "discord"}, nil)
	r.start(t, devEnv(dev))
	got := r.handshaked(t).Platforms
	want := []string{"telegram", "discord"}
	if dev != "" {
		want = []string{"discord", "telegram"}
	}
	if !slices.Equal(got, want) {
		t.Errorf("descriptors answered in order %v, want %v", got, want)
	}
}

// testEventsWithoutID: events without a message id are never dropped as
// replays (IN-010).
func testEventsWithoutID(t *testing.T, dev string) {
	r := newRelay(t, []string{"telegram"}, nil)
	r.start(t, devEnv(dev))
	one := dm("telegram", "first without id")
	one.id = ""
	two := one
	two.text = "second without id"
	marker := one
	marker.text, marker.id = "marker", "m-marker"
	r.inject(t, one)
	r.inject(t, two)
	r.inject(t, marker)
	r.replied(t, one.chat, one.text)
	r.replied(t, one.chat, marker.text)
	if dev == "" {
		r.replied(t, one.chat, two.text)
		return
	}
	if got := strings.Join(contents(r.actions(one.chat, "send")), "|"); strings.Contains(got, two.text) {
		t.Errorf("deviation: the second event without an id was answered: %q", got)
	}
}

// testDiscordSessionKey: a Discord group's session key leaves the guild
// out (SKEY-001).
func testDiscordSessionKey(t *testing.T, dev string) {
	r := newRelay(t, []string{"discord"}, nil)
	r.start(t, devEnv(dev))
	m := msg{platform: "discord", chat: "chan1", chatType: "group", user: "u1", scope: "g1", text: "/interrupt", id: "m-1"}
	r.inject(t, m)
	var got []simulator.InterruptRecord
	testkit.EventuallyWithin(t, testkit.SlowWait, "an interrupt", func() bool { got = r.sim.Interrupts(r.gw); return len(got) > 0 })
	want := "agent:main:discord:group:chan1:u1"
	if dev != "" {
		want = "agent:main:discord:group:g1:chan1:u1"
	}
	if got[0].SessionKey != want {
		t.Errorf("session key %q, want %q", got[0].SessionKey, want)
	}
}

// testNullReplyTo: a send without a message to reply to carries
// "reply_to": null (OUT-004).
func testNullReplyTo(t *testing.T, dev string) {
	r := newRelay(t, []string{"telegram"}, nil)
	r.start(t, devEnv(dev))
	m := dm("telegram", "reply to nothing")
	r.inject(t, m)
	var sends []simulator.OutboundRecord
	testkit.EventuallyWithin(t, testkit.SlowWait, "the echo", func() bool { sends = r.actions(m.chat, "send"); return len(sends) > 0 })
	var a map[string]json.RawMessage
	_ = json.Unmarshal(sends[0].Action, &a)
	v, has := a["reply_to"]
	if (dev == "") != (has && string(v) == "null") {
		t.Errorf("action %s", sends[0].Action)
	}
}

// TestStyles proves each conformant style changes what it names.
func TestStyles(t *testing.T) {
	t.Run(styleStreamWordSends, func(t *testing.T) {
		for _, style := range []string{"", styleStreamWordSends} {
			r := newRelay(t, []string{"telegram"}, withDescriptor("telegram", func(d *contract.CapabilityDescriptor) {
				d.SupportedOps, d.SupportsDraftStreaming, d.SupportsEdit = []string{"send"}, false, false
			}))
			r.start(t, map[string]string{"LANTERN_STYLE": style})
			m := dm("telegram", "/stream one two three")
			r.inject(t, m)
			sends := r.replied(t, m.chat, "one two three")
			if want := map[string]int{"": 1, styleStreamWordSends: 3}[style]; len(sends) != want {
				t.Errorf("style %q: %d sends %q, want %d", style, len(sends), contents(sends), want)
			}
		}
	})
	t.Run(styleAttachmentLines, func(t *testing.T) {
		for _, style := range []string{"", styleAttachmentLines} {
			r := newRelay(t, []string{"telegram"}, nil)
			r.start(t, map[string]string{"LANTERN_STYLE": style})
			m := dm("telegram", "/attachments")
			m.mediaURLs = []string{"http://127.0.0.1:1/none", "ftp://example/x"}
			r.inject(t, m)
			want := map[string]string{"": "/attachments: failed, failed", styleAttachmentLines: "/attachments: \nfailed\nfailed"}[style]
			r.replied(t, m.chat, want)
		}
	})
	t.Run(styleSameOriginRedirects, func(t *testing.T) {
		for _, style := range []string{"", styleSameOriginRedirects} {
			var mu sync.Mutex
			var atOther []string
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				atOther = append(atOther, r.Header.Get("Authorization"))
				mu.Unlock()
				w.WriteHeader(http.StatusServiceUnavailable)
			}))
			t.Cleanup(other.Close)
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
			}))
			t.Cleanup(front.Close)
			p := startLantern(t, map[string]string{"GATEWAY_RELAY_URL": front.URL, "GATEWAY_RELAY_ID": "gw-redirect",
				"GATEWAY_RELAY_PLATFORMS": "telegram", "GATEWAY_RELAY_IDENTITY_TOKEN": "idtok", "LANTERN_STYLE": style})
			testkit.EventuallyWithin(t, testkit.SlowWait, "lantern to give up provisioning", p.exited)
			mu.Lock()
			got := slices.Clone(atOther)
			mu.Unlock()
			switch {
			case style == "" && (len(got) != 1 || got[0] != ""):
				t.Errorf("the redirected provision reached the other origin with Authorization %q", got)
			case style != "" && len(got) != 0:
				t.Errorf("style %s: the redirect was followed: %q", style, got)
			}
		}
	})
}
