package simulator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// MediaStore is implemented by a Store that also keeps uploaded media
// across restarts. When Options.Store implements it, the server hands it
// every upload before answering 200, reads the items back at start, reads
// an item's bytes from it on download, and deletes items when they expire
// or the server is reset; the server keeps only the metadata in memory.
// A Store without it (MemoryStore, the default) leaves media in the
// server's memory, where it dies with the process.
//
// A MediaStore must be safe for concurrent use. Ids are the server's
// 32-lowercase-hex random ids; any other id is refused with an error.
type MediaStore interface {
	// PutMedia stores m with its bytes, which must be len(data) ==
	// m.Size. It must not return before the item is durable in the
	// store's sense, as Store.Apply; on error nothing of the item may
	// remain readable.
	PutMedia(m MediaRecord, data []byte) error
	// DeleteMedia removes the item; removing an unknown id is not an error.
	DeleteMedia(id string) error
	// LoadMedia returns the metadata of every stored item, expired ones
	// included: the server deletes those itself.
	LoadMedia() ([]MediaRecord, error)
	// ReadMedia returns the bytes of the item. An unknown item, or one
	// found damaged (and then removed), is an error wrapping
	// os.ErrNotExist.
	ReadMedia(id string) ([]byte, error)
}

// MediaOpener is implemented by a MediaStore that can hand an item's bytes
// out as a stream. The server prefers it for downloads, so a download
// holds a file, not the item's bytes, however slowly its client reads.
// The reader must yield exactly the stored bytes (size and content
// checked before the first byte, as ReadMedia); unknown or damaged items
// are errors wrapping os.ErrNotExist. FileStore implements it.
type MediaOpener interface {
	OpenMedia(id string) (io.ReadCloser, error)
}

// MediaRecord is the metadata of one stored media item.
type MediaRecord struct {
	ID          string
	Tenant      string
	ContentType string
	Filename    string
	Size        int64
	Expires     time.Time
}

// validMediaID reports whether id is what the server issues: 32 lowercase
// hex characters. A store names files after ids, so anything else (a
// slash, "..", an empty string) must never reach the file system.
func validMediaID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// mediaSidecar is the metadata file of one item, <id>.json. Its rename
// into place commits the item: a data file without one is debris of an
// interrupted upload. The SHA-256 lets a read refuse bytes a machine crash
// left damaged under the right name and size; the CRC-32C (of the JSON
// with an empty crc) lets open refuse damaged metadata. Sidecars written
// before the CRC existed have none and load unchecked. Header values may
// be arbitrary bytes, which JSON strings cannot carry, so a value that is
// not UTF-8 goes in its base64 field instead.
type mediaSidecar struct {
	ID             string    `json:"id"`
	Tenant         string    `json:"tenant"`
	ContentType    string    `json:"contentType,omitempty"`
	ContentTypeRaw []byte    `json:"contentTypeRaw,omitempty"`
	Filename       string    `json:"filename,omitempty"`
	FilenameRaw    []byte    `json:"filenameRaw,omitempty"`
	Size           int64     `json:"size"`
	Expires        time.Time `json:"expires"`
	SHA256         string    `json:"sha256"`
	CRC            string    `json:"crc,omitempty"`
}

// checksum is the CRC-32C of the sidecar's JSON without its crc.
func (sc mediaSidecar) checksum() (string, error) {
	sc.CRC = ""
	b, err := json.Marshal(sc)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%08x", crc32.Checksum(b, castagnoli)), nil
}

func splitText(s string) (string, []byte) {
	if utf8.ValidString(s) {
		return s, nil
	}
	return "", []byte(s)
}

func joinText(s string, raw []byte) string {
	if raw != nil {
		return string(raw)
	}
	return s
}

func (sc mediaSidecar) record() MediaRecord {
	return MediaRecord{ID: sc.ID, Tenant: sc.Tenant, ContentType: joinText(sc.ContentType, sc.ContentTypeRaw),
		Filename: joinText(sc.Filename, sc.FilenameRaw), Size: sc.Size, Expires: sc.Expires}
}

// mediaTempPrefix starts the name of every file being written; whatever
// carries it at open is debris of a crash and is removed.
const mediaTempPrefix = ".tmp-"

// mediaDir keeps a FileStore's media as files in one directory: <id> with
// the bytes and <id>.json with the metadata, each written to a temporary
// file, synced as the fsync mode says, and renamed into place, data first.
type mediaDir struct {
	dir  string
	sync bool // sync every item before PutMedia returns (FsyncAlways)
	log  *slog.Logger

	// rw is held for reading by every file operation and for writing by
	// close, so close waits for uploads in flight.
	rw     sync.RWMutex
	closed bool

	mu       sync.Mutex
	items    map[string]mediaSidecar
	unsynced map[string]bool // ids written but not yet synced; Flush syncs them
}

// mediaOptions configure openMediaDir.
type mediaOptions struct {
	sync   bool // FsyncAlways
	repair bool // move damaged items aside instead of refusing
	log    *slog.Logger
	now    time.Time // for the names of items moved aside
}

// openMediaDir creates dir (mode 0700) or scans it. Temporary files and
// data without metadata, which a crash during an upload or a delete
// leaves, are removed. Metadata that is damaged, has no data, or records
// another size than its data has no such explanation: it is a
// *StoreDamageError, or with repair the item is moved aside. Files with
// other names are left alone and never served.
func openMediaDir(dir string, o mediaOptions) (*mediaDir, error) {
	md := &mediaDir{dir: dir, sync: o.sync, log: o.log, items: map[string]mediaSidecar{}, unsynced: map[string]bool{}}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to open media directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to open media directory: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to read media directory: %w", err)
	}
	data := map[string]int64{}
	var metas []string
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, mediaTempPrefix):
			if os.Remove(filepath.Join(dir, name)) == nil {
				o.log.Info("relaysim: store: removed the temporary media file of a write a crash interrupted", "file", name)
			}
		case validMediaID(name) && e.Type().IsRegular():
			if fi, err := e.Info(); err == nil {
				data[name] = fi.Size()
			}
		case strings.HasSuffix(name, ".json") && validMediaID(strings.TrimSuffix(name, ".json")) && e.Type().IsRegular():
			metas = append(metas, strings.TrimSuffix(name, ".json"))
		}
	}
	sort.Strings(metas)
	for _, id := range metas {
		size, ok := data[id]
		delete(data, id)
		sc, dmg := md.checkItem(id, size, ok)
		if dmg == nil {
			md.items[id] = sc
			continue
		}
		if !o.repair {
			return nil, dmg
		}
		md.moveAside(id, o.now, dmg)
	}
	for id := range data {
		// Bytes whose metadata never landed, or whose metadata a delete
		// removed first: an upload or a delete that did not finish.
		if os.Remove(filepath.Join(dir, id)) == nil {
			o.log.Info("relaysim: store: removed media data without metadata, left by an upload or delete a crash interrupted", "id", id)
		}
	}
	syncDir(dir)
	return md, nil
}

// checkItem reads and checks one item's metadata against its data file's
// size (ok false: no data file).
func (md *mediaDir) checkItem(id string, size int64, ok bool) (mediaSidecar, *StoreDamageError) {
	name := filepath.Join(md.dir, id+".json")
	bad := func(off int64, format string, args ...any) (mediaSidecar, *StoreDamageError) {
		return mediaSidecar{}, &StoreDamageError{Path: name, Offset: off, Cause: fmt.Sprintf(format, args...)}
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return bad(0, "unreadable media metadata: %v", err)
	}
	var sc mediaSidecar
	if err := json.Unmarshal(b, &sc); err != nil {
		return bad(0, "media metadata is not JSON (%d bytes): %v", len(b), err)
	}
	if sc.CRC != "" {
		if sum, err := sc.checksum(); err != nil || sum != sc.CRC {
			return bad(0, "media metadata checksum mismatch (recorded %.8s, computed %s)", sc.CRC, sum)
		}
	}
	switch {
	case sc.ID != id:
		return bad(0, "media metadata names item %.40q, not %s", sc.ID, id)
	case sc.Tenant == "" || sc.Size < 0 || len(sc.SHA256) != 64:
		return bad(0, "media metadata lacks its tenant, size or SHA-256")
	case !ok:
		return bad(0, "media metadata without its data file %s: data is renamed into place before its metadata and removed after it, so no crash leaves this", id)
	case size != sc.Size:
		return bad(min(size, sc.Size), "media data file %s is %d bytes, its metadata says %d", id, size, sc.Size)
	}
	return sc, nil
}

// moveAside renames an item's files out of the way, to names the scan
// ignores, and logs why.
func (md *mediaDir) moveAside(id string, now time.Time, why *StoreDamageError) {
	suffix := ".damaged-" + now.UTC().Format("20060102T150405Z")
	var kept []string
	for _, name := range []string{id, id + ".json"} {
		from := filepath.Join(md.dir, name)
		if _, err := os.Lstat(from); err != nil {
			continue
		}
		if err := os.Rename(from, from+suffix); err != nil {
			md.log.Error("relaysim: store: failed to move a damaged media file aside", "file", name, "err", err)
			continue
		}
		kept = append(kept, name+suffix)
	}
	md.log.Error("relaysim: store: damaged media item moved aside, not served", "id", id, "file", why.Path,
		"offset", why.Offset, "cause", why.Cause, "kept", strings.Join(kept, ","))
}

// remove deletes the item's files, metadata first so a crash in between
// leaves debris, never a committed item without bytes.
func (md *mediaDir) remove(id string) error {
	err := os.Remove(filepath.Join(md.dir, id+".json"))
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if derr := os.Remove(filepath.Join(md.dir, id)); derr != nil && !errors.Is(derr, os.ErrNotExist) && err == nil {
		err = derr
	}
	return err
}

// writeFile writes b under name through a synced-or-not temporary file
// and a rename.
func (md *mediaDir) writeFile(name string, b []byte) error {
	tmp, err := os.CreateTemp(md.dir, mediaTempPrefix+name+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if md.sync {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(md.dir, name)); err != nil {
		return err
	}
	if md.sync {
		syncDir(md.dir)
	}
	return nil
}

func (md *mediaDir) put(m MediaRecord, data []byte) error {
	if !validMediaID(m.ID) {
		return fmt.Errorf("failed to store media: invalid id %q", m.ID)
	}
	if m.Tenant == "" || m.Size != int64(len(data)) {
		return fmt.Errorf("failed to store media %s: record does not match (tenant %q, size %d for %d bytes)", m.ID, m.Tenant, m.Size, len(data))
	}
	md.rw.RLock()
	defer md.rw.RUnlock()
	if md.closed {
		return errors.New("failed to store media: store closed")
	}
	sum := sha256.Sum256(data)
	sc := mediaSidecar{ID: m.ID, Tenant: m.Tenant, Size: m.Size, Expires: m.Expires, SHA256: hex.EncodeToString(sum[:])}
	sc.ContentType, sc.ContentTypeRaw = splitText(m.ContentType)
	sc.Filename, sc.FilenameRaw = splitText(m.Filename)
	crc, err := sc.checksum()
	if err != nil {
		return fmt.Errorf("failed to store media %s: %w", m.ID, err)
	}
	sc.CRC = crc
	meta, err := json.Marshal(sc)
	if err != nil {
		return fmt.Errorf("failed to store media %s: %w", m.ID, err)
	}
	if err := md.writeFile(m.ID, data); err != nil {
		md.remove(m.ID)
		return fmt.Errorf("failed to store media %s: %w", m.ID, err)
	}
	if err := md.writeFile(m.ID+".json", append(meta, '\n')); err != nil {
		md.remove(m.ID)
		return fmt.Errorf("failed to store media %s: %w", m.ID, err)
	}
	md.mu.Lock()
	md.items[m.ID] = sc
	if !md.sync {
		md.unsynced[m.ID] = true
	}
	md.mu.Unlock()
	return nil
}

func (md *mediaDir) delete(id string) error {
	if !validMediaID(id) {
		return fmt.Errorf("failed to delete media: invalid id %q", id)
	}
	md.rw.RLock()
	defer md.rw.RUnlock()
	if md.closed {
		return errors.New("failed to delete media: store closed")
	}
	md.mu.Lock()
	delete(md.items, id)
	delete(md.unsynced, id)
	md.mu.Unlock()
	if err := md.remove(id); err != nil {
		return fmt.Errorf("failed to delete media %s: %w", id, err)
	}
	if md.sync {
		syncDir(md.dir)
	}
	return nil
}

func (md *mediaDir) load() ([]MediaRecord, error) {
	md.mu.Lock()
	defer md.mu.Unlock()
	out := make([]MediaRecord, 0, len(md.items))
	for _, sc := range md.items {
		out = append(out, sc.record())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// read returns the item's bytes after checking their size and SHA-256; a
// damaged item is moved aside (kept for the operator, never served) and
// reported as not existing.
func (md *mediaDir) read(id string) ([]byte, error) {
	if !validMediaID(id) {
		return nil, fmt.Errorf("failed to read media: invalid id %q", id)
	}
	md.rw.RLock()
	defer md.rw.RUnlock()
	if md.closed {
		return nil, errors.New("failed to read media: store closed")
	}
	md.mu.Lock()
	sc, ok := md.items[id]
	md.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("failed to read media %s: %w", id, os.ErrNotExist)
	}
	f, err := os.Open(filepath.Join(md.dir, id))
	if err != nil {
		return nil, fmt.Errorf("failed to read media %s: %w", id, err)
	}
	defer f.Close()
	// Read one byte more than recorded, so a grown file shows as damaged
	// without letting it make the buffer larger.
	b, err := io.ReadAll(io.LimitReader(f, sc.Size+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read media %s: %w", id, err)
	}
	sum := sha256.Sum256(b)
	if int64(len(b)) != sc.Size || hex.EncodeToString(sum[:]) != sc.SHA256 {
		md.mu.Lock()
		_, still := md.items[id]
		delete(md.items, id)
		delete(md.unsynced, id)
		md.mu.Unlock()
		if still {
			cause := fmt.Sprintf("%d bytes whose SHA-256 does not match its metadata", len(b))
			md.moveAside(id, time.Now(), &StoreDamageError{Path: filepath.Join(md.dir, id), Cause: cause})
		}
		return nil, fmt.Errorf("failed to read media %s: damaged, moved aside: %w", id, os.ErrNotExist)
	}
	return b, nil
}

// open returns the item's file positioned at its start, after checking its
// size and SHA-256 in one pass of bounded memory; a damaged item is removed
// and reported as not existing. The store's lock is held only while the
// file is opened and checked, so a stalled download never holds up Close,
// and a file deleted meanwhile stays readable through the open handle.
func (md *mediaDir) open(id string) (*os.File, error) {
	if !validMediaID(id) {
		return nil, fmt.Errorf("failed to open media: invalid id %q", id)
	}
	md.rw.RLock()
	defer md.rw.RUnlock()
	if md.closed {
		return nil, errors.New("failed to open media: store closed")
	}
	md.mu.Lock()
	sc, ok := md.items[id]
	md.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("failed to open media %s: %w", id, os.ErrNotExist)
	}
	f, err := os.Open(filepath.Join(md.dir, id))
	if err != nil {
		return nil, fmt.Errorf("failed to open media %s: %w", id, err)
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, sc.Size+1))
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to open media %s: %w", id, err)
	}
	if n != sc.Size || hex.EncodeToString(h.Sum(nil)) != sc.SHA256 {
		f.Close()
		md.mu.Lock()
		delete(md.items, id)
		delete(md.unsynced, id)
		md.mu.Unlock()
		md.remove(id)
		return nil, fmt.Errorf("failed to open media %s: damaged, removed: %w", id, os.ErrNotExist)
	}
	return f, nil
}

// flush syncs every item written since the last flush, and the directory.
func (md *mediaDir) flush() error {
	md.rw.RLock()
	defer md.rw.RUnlock()
	if md.closed {
		return nil
	}
	return md.flushLocked()
}

func (md *mediaDir) flushLocked() error {
	md.mu.Lock()
	ids := keys(md.unsynced)
	md.unsynced = map[string]bool{}
	md.mu.Unlock()
	var first error
	for _, id := range ids {
		for _, name := range []string{id, id + ".json"} {
			f, err := os.Open(filepath.Join(md.dir, name))
			if errors.Is(err, os.ErrNotExist) {
				continue // deleted meanwhile
			}
			if err == nil {
				err = f.Sync()
				f.Close()
			}
			if err != nil && first == nil {
				first = fmt.Errorf("failed to sync media %s: %w", id, err)
			}
		}
	}
	syncDir(md.dir)
	return first
}

// close waits for operations in flight, syncs, and refuses later ones.
func (md *mediaDir) close() error {
	md.rw.Lock()
	defer md.rw.Unlock()
	if md.closed {
		return nil
	}
	md.closed = true
	return md.flushLocked()
}

// PutMedia stores the item as two files in the media directory (see
// FileStore). With FsyncAlways both are synced before it returns; with the
// other modes they reach the operating system at once, surviving the
// process dying, and are synced on Flush and Close.
func (fs *FileStore) PutMedia(m MediaRecord, data []byte) error { return fs.media.put(m, data) }

// DeleteMedia removes the item's files.
func (fs *FileStore) DeleteMedia(id string) error { return fs.media.delete(id) }

// LoadMedia returns the metadata of every intact item, sorted by id.
func (fs *FileStore) LoadMedia() ([]MediaRecord, error) { return fs.media.load() }

// ReadMedia returns the item's bytes, checked against the size and SHA-256
// recorded at upload.
func (fs *FileStore) ReadMedia(id string) ([]byte, error) { return fs.media.read(id) }

// OpenMedia returns the item's bytes as a file, checked against the size
// and SHA-256 recorded at upload before it is returned; the caller closes
// it.
func (fs *FileStore) OpenMedia(id string) (io.ReadCloser, error) { return fs.media.open(id) }

// MediaDir returns the directory that holds the store's media: the store's
// path with ".media" appended.
func (fs *FileStore) MediaDir() string { return fs.media.dir }
