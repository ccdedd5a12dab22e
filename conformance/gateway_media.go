package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/relaykit/relaykit/contract"
)

// Gateway cases on media, for a gateway that declares the media feature
// (uploads and downloads) or the send_media op: the echo profile's /media
// uploads a file and sends it, /attachments downloads an event's
// media_urls (docs/conformance-guide.md).

var isMediaUpload = route("front", http.MethodPost, "/relay/media")

// mediaAs uploads data to the case's connector as the case's gateway and
// returns the item's id.
func (g *gwCase) mediaAs(data []byte) string {
	req, _ := http.NewRequest(http.MethodPost, g.sim.URL()+"/relay/media", bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+contract.MintTokenTTL(g.gatewayID, g.secret, time.Now(), time.Minute))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set(contract.HeaderMediaFilename, "conform.txt")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.s.Harness("upload media to the suite's connector: %v", err)
	}
	defer resp.Body.Close()
	var up contract.MediaUploadResponse
	if err := json.NewDecoder(resp.Body).Decode(&up); err != nil || resp.StatusCode != http.StatusOK || up.ID == "" {
		g.s.Harness("upload media to the suite's connector: HTTP %d, %v", resp.StatusCode, err)
	}
	return up.ID
}

// mediaBytes reads an item back from the case's connector as the case's
// gateway; ok is false when the connector has no such item for it.
func (g *gwCase) mediaBytes(id string) (data []byte, ok bool) {
	req, _ := http.NewRequest(http.MethodGet, g.sim.URL()+"/relay/media/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+contract.MintTokenTTL(g.gatewayID, g.secret, time.Now(), time.Minute))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.s.Harness("read media back from the suite's connector: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, contract.MediaMaxBytes+1))
	if err != nil {
		g.s.Harness("read media back from the suite's connector: %v", err)
	}
	return b, resp.StatusCode == http.StatusOK
}

var _ = gatewayCase(Case{
	ID:    "HTTP-019/media-upload",
	Reqs:  []string{"HTTP-019", "HTTP-009"},
	Text:  "an upload to /relay/media carries non-empty raw bytes, a Content-Type, an X-Media-Filename of at most 255 characters and an upgrade token",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	ask := g.newMessage("/media")
	g.inject(ask)
	up := g.f.awaitRequests(1, s.within(1), "HTTP-019", "a POST /relay/media (echo profile: /media)", isMediaUpload)[0]
	s.checkUpgradeBearer(g, up, "HTTP-009")
	s.Check(up.Header.Get("Content-Type") != "", "HTTP-019", "a Content-Type header on the upload", "none")
	name := up.Header.Get(contract.HeaderMediaFilename)
	s.Check(name != "" && utf8.RuneCountInString(name) <= 255, "HTTP-019", "an "+contract.HeaderMediaFilename+" header of 1 to 255 characters",
		"%q (%d characters)", truncate(name, 80), utf8.RuneCountInString(name))
	s.Check(len(up.Body) > 0 && len(up.Body) <= contract.MediaMaxBytes, "HTTP-019", "1 to 26,214,400 bytes of body", "%d bytes", len(up.Body))
})

var _ = gatewayCase(Case{
	ID:    "OUT-023/send-media",
	Reqs:  []string{"OUT-023"},
	Text:  "a send_media action names a known media_kind and, as source_url, the connector's re-host of the bytes the gateway uploaded",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	_, sm := g.command("OUT-023", "/media", contract.OpSendMedia)
	a := actionOf(sm)
	kind, _ := a["media_kind"].(string)
	s.Check(slices.Contains(contract.MediaKinds, kind), "OUT-023", "media_kind image, voice, audio, video or document", "%q", kind)
	src, _ := a["source_url"].(string)
	prefix := g.f.url() + "/relay/media/"
	if !strings.HasPrefix(src, prefix) {
		s.Failf("OUT-023", "source_url on the connector's re-host, "+prefix+"<id> (echo profile: the file /media uploaded)", "%q", src)
	}
	ups := g.f.requests(isMediaUpload)
	if len(ups) == 0 {
		s.Failf("OUT-023", "a send_media of uploaded bytes", "no upload to /relay/media before it")
	}
	got, ok := g.mediaBytes(strings.TrimPrefix(src, prefix))
	s.Check(ok && bytes.Equal(got, ups[len(ups)-1].Body), "OUT-023", "source_url naming the item the gateway uploaded",
		"the connector has %s under that id", map[bool]string{true: fmt.Sprintf("%d other bytes", len(got)), false: "nothing"}[ok])
})

// attachmentURLs sets up the three downloads of the attachment cases: the
// connector's own re-host of an item uploaded for the gateway, a look-alike
// path on another origin, and a file on the connector's origin outside
// /relay/media/. foreign answers what another origin serves.
type attachmentURLs struct {
	own, foreign, sideways string
	ownBody                []byte
}

func (g *gwCase) attachmentURLs(foreignBody string) attachmentURLs {
	u := attachmentURLs{ownBody: []byte("the connector's re-hosted attachment\n")}
	u.own = g.f.url() + "/relay/media/" + g.mediaAs(u.ownBody)
	u.foreign = g.f.elsewhereURL() + "/relay/media/" + randHex(16)
	u.sideways = g.f.url() + "/conform/attachment.txt"
	g.f.setOnHTTP(func(req gwHTTP) (httpAnswer, bool) {
		switch {
		case req.Method == http.MethodGet && req.Server == "elsewhere":
			return httpAnswer{Status: http.StatusOK, Body: foreignBody}, true
		case req.Method == http.MethodGet && req.Server == "front" && req.Path == "/conform/attachment.txt":
			return httpAnswer{Status: http.StatusOK, Body: "an attachment beside the re-host\n"}, true
		}
		return httpAnswer{}, false
	})
	return u
}

// downloadOf matches the gateway's GET of rawURL.
func (g *gwCase) downloadOf(rawURL string) func(gwHTTP) bool {
	server, path := "front", strings.TrimPrefix(rawURL, g.f.url())
	if !strings.HasPrefix(rawURL, g.f.url()+"/") {
		server, path = "elsewhere", strings.TrimPrefix(rawURL, g.f.elsewhereURL())
	}
	return route(server, http.MethodGet, path)
}

var _ = gatewayCase(Case{
	ID:    "HTTP-022/download-bearer",
	Reqs:  []string{"HTTP-022"},
	Text:  "the gateway sends its bearer when downloading the connector's own re-host, and none to another origin or to a path outside /relay/media/",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	u := g.attachmentURLs("an attachment on another origin\n")
	m := g.newMessage("/attachments")
	m.MediaURLs = []string{u.own, u.foreign, u.sideways}
	g.inject(m)
	own := g.f.awaitRequests(1, s.within(1), "HTTP-022", "a GET of the re-hosted attachment "+u.own, g.downloadOf(u.own))[0]
	s.checkUpgradeBearer(g, own, "HTTP-022")
	for _, url := range []string{u.foreign, u.sideways} {
		r := g.f.awaitRequests(1, s.within(1), "HTTP-022", "a GET of "+url+" (echo profile: /attachments fetches every media_url)", g.downloadOf(url))[0]
		s.Check(r.Header.Get("Authorization") == "", "HTTP-022", "no Authorization on "+url+", which is not the connector's re-host",
			"Authorization: Bearer %s", describeToken(r.bearer()))
	}
	reply := g.expectReply("HTTP-022", m)
	s.Check(!strings.Contains(contentOf(reply), "failed"), "HTTP-022", "every attachment fetched (echo profile: \"<n> bytes\" each)", "%q", contentOf(reply))
})

var _ = gatewayCase(Case{
	ID:    "HTTP-023/empty-download-refused",
	Reqs:  []string{"HTTP-023"},
	Text:  "a media download whose body is empty is refused",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	u := g.attachmentURLs("")
	m := g.newMessage("/attachments")
	m.MediaURLs = []string{u.foreign, u.own}
	g.inject(m)
	reply := contentOf(g.expectReply("HTTP-023", m))
	// The echo profile names, per URL in order, "<n> bytes" or "failed";
	// it fixes no separator.
	fetched := fmt.Sprintf("%d bytes", len(u.ownBody))
	i := strings.Index(reply, "failed")
	s.Check(i >= 0 && strings.Contains(reply[i:], fetched), "HTTP-023",
		"the empty download refused and the other fetched (echo profile: \"failed\", then \""+fetched+"\")", "%q", reply)
})
