package simulator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// mediaItem is one re-hosted file. Without a MediaStore, media lives in
// memory only (data holds the bytes) and does not survive a restart, which
// its one-hour lifetime makes tolerable for a test tool. With one (a
// FileStore), the store holds the bytes durably, data is nil, and a
// download reads them back, so memory holds only metadata and links a
// gateway already sent still work after a restart.
type mediaItem struct {
	tenant      string
	data        []byte // nil when disk holds the bytes
	size        int64
	contentType string
	filename    string
	expires     time.Time
}

type mediaStore struct {
	mu    sync.Mutex
	items map[string]*mediaItem
	// total counts the bytes of items plus those of uploads being written
	// to disk, so MediaMaxTotal holds while they are.
	total int64
	// disk is the server's store when it is a MediaStore, else nil; set
	// before the server serves and never changed.
	disk MediaStore
}

func (m *mediaStore) init() { m.items = map[string]*mediaItem{} }

// reset drops every item and returns the ids of those disk holds. An
// upload still being written keeps its share of total and lands after.
func (m *mediaStore) reset() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, it := range m.items {
		m.total -= it.size
		if m.disk != nil {
			ids = append(ids, id)
		}
	}
	m.items = map[string]*mediaItem{}
	return ids
}

// sweepLocked drops expired items and returns the ids of those disk holds.
func (m *mediaStore) sweepLocked(now time.Time) []string {
	var ids []string
	for id, it := range m.items {
		if now.After(it.expires) {
			m.total -= it.size
			delete(m.items, id)
			if m.disk != nil {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// dropMedia deletes items from disk; a failure is logged, since the item
// is already gone from the index and a later start deletes it once it has
// expired.
func (s *Server) dropMedia(ids []string) {
	for _, id := range ids {
		if err := s.media.disk.DeleteMedia(id); err != nil {
			s.log.Warn("relaysim: failed to delete media", "err", err)
		}
	}
}

// restoreMedia registers the items of a MediaStore at start: unexpired
// ones count toward MediaMaxTotal (even past it, when the cap was lowered;
// uploads then get 507 until enough expire), expired ones are deleted.
func (s *Server) restoreMedia() error {
	ms, ok := s.store.(MediaStore)
	if !ok {
		return nil
	}
	recs, err := ms.LoadMedia()
	if err != nil {
		return fmt.Errorf("failed to load media: %w", err)
	}
	m := &s.media
	m.disk = ms
	now := s.clk.Now()
	var expired []string
	for _, r := range recs {
		if now.After(r.Expires) {
			expired = append(expired, r.ID)
			continue
		}
		m.items[r.ID] = &mediaItem{tenant: r.Tenant, size: r.Size, contentType: r.ContentType, filename: r.Filename, expires: r.Expires}
		m.total += r.Size
	}
	s.dropMedia(expired)
	return nil
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
	// Room for the body is reserved in MediaMaxTotal before it is read
	// (its announced size, else the per-upload cap), so uploads in flight,
	// trickled ones included, never hold more memory than the cap allows.
	reserved := limit
	if r.ContentLength >= 0 && r.ContentLength <= limit {
		reserved = r.ContentLength
	}
	if r.ContentLength <= limit {
		if !s.reserveMedia(reserved) {
			s.httpError(w, r, http.StatusInsufficientStorage, "media store full; retry after items expire")
			return
		}
	} else {
		reserved = 0 // readBody refuses it unread
	}
	unreserve := func() { s.unreserveMedia(reserved) }
	data, err := readBody(r, limit)
	if err != nil {
		unreserve()
		status, msg := requestStatus(err)
		s.httpError(w, r, status, msg)
		return
	}
	if len(data) == 0 {
		unreserve()
		s.httpError(w, r, http.StatusBadRequest, "body: empty upload")
		return
	}
	name := r.Header.Get(contract.HeaderMediaFilename)
	if len(name) > 255 {
		name = name[:255]
	}
	it := &mediaItem{tenant: auth.gw.Tenant, data: data, size: int64(len(data)), contentType: r.Header.Get("Content-Type"), filename: name,
		expires: s.clk.Now().Add(s.cfg.MediaTTL)}
	if it.contentType == "" {
		it.contentType = "application/octet-stream"
	}
	id, err := s.commitMedia(it, data, reserved)
	if err != nil {
		s.httpError(w, r, http.StatusInternalServerError, "failed to store media")
		return
	}
	writeJSON(w, http.StatusOK, contract.MediaUploadResponse{ID: id, Size: int64(len(data))})
	s.noteHTTP(r, http.StatusOK, auth.gw.GatewayID, "stored "+strconv.Itoa(len(data))+" bytes")
}

// reserveMedia takes n bytes of MediaMaxTotal for an item about to be
// stored, after dropping expired items; false when they do not fit.
func (s *Server) reserveMedia(n int64) bool {
	m := &s.media
	m.mu.Lock()
	expired := m.sweepLocked(s.clk.Now())
	full := m.total+n > s.cfg.MediaMaxTotal
	if !full {
		m.total += n
	}
	m.mu.Unlock()
	s.dropMedia(expired)
	if full {
		s.metrics.refused(refMediaFull)
	}
	return !full
}

// unreserveMedia gives back a reservation that was not stored.
func (s *Server) unreserveMedia(n int64) {
	m := &s.media
	m.mu.Lock()
	m.total -= n
	m.mu.Unlock()
}

// commitMedia stores it, whose bytes are data and for which reserved bytes
// were taken with reserveMedia, under a fresh 128-bit random id. With a
// MediaStore the item is listed only once its bytes are durable; a failed
// write lists nothing, gives the reservation back and is logged.
func (s *Server) commitMedia(it *mediaItem, data []byte, reserved int64) (string, error) {
	m := &s.media
	id := randomHex(16)
	m.mu.Lock()
	// The reservation becomes the item's actual size.
	m.total += it.size - reserved
	if m.disk == nil {
		m.items[id] = it
		m.mu.Unlock()
		return id, nil
	}
	// The bytes stay reserved in total while the store writes them,
	// outside the lock.
	m.mu.Unlock()
	err := m.disk.PutMedia(MediaRecord{ID: id, Tenant: it.tenant, ContentType: it.contentType, Filename: it.filename,
		Size: it.size, Expires: it.expires}, data)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.total -= it.size
		s.log.Error("relaysim: failed to store media", "err", err)
		return "", err
	}
	it.data = nil
	m.items[id] = it
	return id, nil
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
	var expired []string
	if it != nil && now.After(it.expires) {
		m.total -= it.size
		delete(m.items, id)
		if m.disk != nil {
			expired = []string{id}
		}
		it = nil
	}
	m.mu.Unlock()
	s.dropMedia(expired)
	if it == nil || (it.tenant != auth.gw.Tenant && !s.deviations().Has(deviation.SimCrossTenantMedia)) {
		s.httpError(w, r, http.StatusNotFound, "media not found")
		return
	}
	// The bytes are streamed: from memory, the item's own slice (no copy);
	// from a MediaOpener, its file. A client that stops reading then holds
	// a file handle and a socket buffer, never a copy of the item, and only
	// until MediaTimeout cuts it off.
	var body io.Reader = bytes.NewReader(it.data)
	if m.disk != nil && r.Method != http.MethodHead {
		var (
			rc  io.ReadCloser
			err error
		)
		if op, ok := m.disk.(MediaOpener); ok {
			rc, err = op.OpenMedia(id)
		} else {
			var b []byte
			b, err = m.disk.ReadMedia(id)
			rc = io.NopCloser(bytes.NewReader(b))
		}
		if errors.Is(err, os.ErrNotExist) {
			// Deleted meanwhile (expiry, reset) or found damaged: gone.
			m.mu.Lock()
			if m.items[id] == it {
				m.total -= it.size
				delete(m.items, id)
			}
			m.mu.Unlock()
			s.log.Warn("relaysim: media lost from the store", "err", err)
			s.httpError(w, r, http.StatusNotFound, "media not found")
			return
		}
		if err != nil {
			s.log.Error("relaysim: failed to read media", "err", err)
			s.httpError(w, r, http.StatusInternalServerError, "failed to read media")
			return
		}
		defer rc.Close()
		body = rc
	}
	w.Header().Set("Content-Type", it.contentType)
	w.Header().Set("Content-Length", strconv.FormatInt(it.size, 10))
	if it.filename != "" {
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": it.filename}))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		if _, err := io.Copy(w, body); err != nil {
			s.log.Debug("relaysim: media download cut off", "err", err)
		}
	}
	s.noteHTTP(r, http.StatusOK, auth.gw.GatewayID, "served "+strconv.FormatInt(it.size, 10)+" bytes")
}
