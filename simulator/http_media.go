package simulator

import (
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// mediaItem is one re-hosted file. Media lives in memory only; it does not
// survive a restart, which its one-hour lifetime makes harmless.
type mediaItem struct {
	tenant      string
	data        []byte
	contentType string
	filename    string
	expires     time.Time
}

type mediaStore struct {
	mu    sync.Mutex
	items map[string]*mediaItem
	total int64
}

func (m *mediaStore) init() { m.items = map[string]*mediaItem{} }

func (m *mediaStore) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.items, m.total = map[string]*mediaItem{}, 0
}

// sweepLocked drops expired items.
func (m *mediaStore) sweepLocked(now time.Time) {
	for id, it := range m.items {
		if now.After(it.expires) {
			m.total -= int64(len(it.data))
			delete(m.items, id)
		}
	}
}

// serveMediaUpload is POST /relay/media (HTTP-005, HTTP-018): raw bytes in,
// {id, size} out, with a 128-bit random id that works as a capability.
func (s *Server) serveMediaUpload(w http.ResponseWriter, r *http.Request) {
	auth := s.authenticateHTTP(r.Header.Get("Authorization"))
	if auth.reason != "" || auth.gw == nil {
		s.refuseHTTP(w, r, auth)
		return
	}
	limit := s.cfg.MediaMaxBytes
	data, err := readBody(r, limit)
	if err != nil {
		status, msg := requestStatus(err)
		s.httpError(w, r, status, msg)
		return
	}
	if len(data) == 0 {
		s.httpError(w, r, http.StatusBadRequest, "body: empty upload")
		return
	}
	name := r.Header.Get(contract.HeaderMediaFilename)
	if len(name) > 255 {
		name = name[:255]
	}
	it := &mediaItem{tenant: auth.gw.Tenant, data: data, contentType: r.Header.Get("Content-Type"), filename: name,
		expires: s.clk.Now().Add(s.cfg.MediaTTL)}
	if it.contentType == "" {
		it.contentType = "application/octet-stream"
	}
	id := randomHex(16)
	m := &s.media
	m.mu.Lock()
	m.sweepLocked(s.clk.Now())
	if m.total+int64(len(data)) > s.cfg.MediaMaxTotal {
		m.mu.Unlock()
		s.httpError(w, r, http.StatusInsufficientStorage, "media store full; retry after items expire")
		return
	}
	m.items[id] = it
	m.total += int64(len(data))
	m.mu.Unlock()
	writeJSON(w, http.StatusOK, contract.MediaUploadResponse{ID: id, Size: int64(len(data))})
	s.noteHTTP(r, http.StatusOK, auth.gw.GatewayID, "stored "+strconv.Itoa(len(data))+" bytes")
}

// serveMediaDownload is GET /relay/media/{id} (HTTP-020): the media goes
// only to a bearer of the uploading tenant; unknown, expired and foreign
// ids all get the same 404, so the answer reveals nothing.
func (s *Server) serveMediaDownload(w http.ResponseWriter, r *http.Request) {
	auth := s.authenticateHTTP(r.Header.Get("Authorization"))
	if auth.reason != "" || auth.gw == nil {
		s.refuseHTTP(w, r, auth)
		return
	}
	id := r.PathValue("id")
	now := s.clk.Now()
	m := &s.media
	m.mu.Lock()
	it := m.items[id]
	if it != nil && now.After(it.expires) {
		m.total -= int64(len(it.data))
		delete(m.items, id)
		it = nil
	}
	m.mu.Unlock()
	if it == nil || (it.tenant != auth.gw.Tenant && !s.deviations().has(DevCrossTenantMedia)) {
		s.httpError(w, r, http.StatusNotFound, "media not found")
		return
	}
	w.Header().Set("Content-Type", it.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(it.data)))
	if it.filename != "" {
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": it.filename}))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(it.data)
	}
	s.noteHTTP(r, http.StatusOK, auth.gw.GatewayID, "served "+strconv.Itoa(len(it.data))+" bytes")
}
