package simulator

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/relaykit/relaykit/contract"
)

// MediaUploadRequest is the body of POST /_relaysim/media: a file a
// platform user attaches, which relaysim re-hosts the way a connector
// re-hosts platform media, for the gateway named to download. The JSON
// body limit of the control API (1 MiB + 64 KiB) bounds the file to about
// 780 KiB once base64-encoded.
type MediaUploadRequest struct {
	// GatewayID is the gateway that will download it; the item belongs to
	// its tenant (HTTP-020).
	GatewayID string `json:"gatewayId"`
	// Filename is served in Content-Disposition; at most 255 bytes.
	Filename string `json:"filename,omitempty"`
	// ContentType is served as Content-Type; default
	// application/octet-stream.
	ContentType string `json:"contentType,omitempty"`
	// DataB64 is the file, standard base64; at least one byte.
	DataB64 string `json:"dataB64"`
}

// MediaUploaded is the answer of POST /_relaysim/media.
type MediaUploaded struct {
	ID   string `json:"id"`
	Size int64  `json:"size"`
	// URL is where the gateway downloads it with its upload token: put it
	// in an event's media_urls (and media[].url).
	URL string `json:"url"`
}

// ctlMedia is POST /media: an attachment in, a /relay/media URL out, so
// an injected event can carry media like a platform's would.
func (s *Server) ctlMedia(w http.ResponseWriter, r *http.Request) {
	var req MediaUploadRequest
	if err := decodeControl(r, &req); err != nil {
		ctlFail(w, err)
		return
	}
	g, ok := s.gatewayRecord(req.GatewayID)
	if !ok || g.Revoked {
		ctlFail(w, unknownGateway(req.GatewayID))
		return
	}
	data, err := base64.StdEncoding.DecodeString(req.DataB64)
	switch {
	case err != nil:
		ctlFail(w, badRequest("dataB64", "not standard base64: %v", err))
		return
	case len(data) == 0:
		ctlFail(w, badRequest("dataB64", "empty: an attachment has at least one byte"))
		return
	case int64(len(data)) > s.cfg.MediaMaxBytes:
		ctlFail(w, &RequestError{Status: http.StatusRequestEntityTooLarge, Field: "dataB64", Message: "over the media size limit"})
		return
	case len(req.Filename) > 255:
		ctlFail(w, badRequest("filename", "longer than 255 bytes"))
		return
	case strings.ContainsAny(req.ContentType, "\r\n"):
		ctlFail(w, badRequest("contentType", "must be one header line"))
		return
	}
	if req.ContentType == "" {
		req.ContentType = "application/octet-stream"
	}
	size := int64(len(data))
	if !s.reserveMedia(size) {
		ctlFail(w, &RequestError{Status: http.StatusInsufficientStorage, Message: "media store full; retry after items expire"})
		return
	}
	it := &mediaItem{tenant: g.Tenant, data: data, size: size, contentType: req.ContentType, filename: req.Filename,
		expires: s.clk.Now().Add(s.cfg.MediaTTL)}
	id, err := s.commitMedia(it, data, size)
	if err != nil {
		ctlFail(w, &RequestError{Status: http.StatusInternalServerError, Message: "failed to store media"})
		return
	}
	base := s.URL()
	if base == "" {
		// A Handler mounted in the caller's server: its address is the
		// one this request came in on.
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	s.note(JournalEntry{Kind: JournalControl, GatewayID: g.GatewayID, Detail: "media re-hosted for an attachment: " + req.Filename})
	writeJSON(w, http.StatusOK, MediaUploaded{ID: id, Size: size, URL: base + contract.PathMedia + "/" + id})
}

// UploadMedia calls POST /media: it re-hosts an attachment for the gateway
// named, whose events can then carry the answer's URL.
func (c *ControlClient) UploadMedia(ctx context.Context, req MediaUploadRequest) (MediaUploaded, error) {
	var out MediaUploaded
	err := c.Do(ctx, http.MethodPost, "/media", req, &out)
	return out, err
}
