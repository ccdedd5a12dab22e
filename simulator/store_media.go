package simulator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
// left damaged under the right name and size. Header values may be
// arbitrary bytes, which JSON strings cannot carry, so a value that is not
// UTF-8 goes in its base64 field instead.
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

	// rw is held for reading by every file operation and for writing by
	// close, so close waits for uploads in flight.
	rw     sync.RWMutex
	closed bool

	mu       sync.Mutex
	items    map[string]mediaSidecar
	unsynced map[string]bool // ids written but not yet synced; Flush syncs them
}

// openMediaDir creates dir (mode 0700) or scans it: temporary files, data
// without metadata, and metadata without intact data are removed; files
// with other names are left alone and never served.
func openMediaDir(dir string, syncEach bool) (*mediaDir, error) {
	md := &mediaDir{dir: dir, sync: syncEach, items: map[string]mediaSidecar{}, unsynced: map[string]bool{}}
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
			os.Remove(filepath.Join(dir, name))
		case validMediaID(name) && e.Type().IsRegular():
			if fi, err := e.Info(); err == nil {
				data[name] = fi.Size()
			}
		case strings.HasSuffix(name, ".json") && validMediaID(strings.TrimSuffix(name, ".json")) && e.Type().IsRegular():
			metas = append(metas, strings.TrimSuffix(name, ".json"))
		}
	}
	for _, id := range metas {
		sc, err := md.readSidecar(id)
		size, ok := data[id]
		if err != nil || sc.ID != id || sc.Tenant == "" || !ok || size != sc.Size {
			md.remove(id)
			delete(data, id)
			continue
		}
		md.items[id] = sc
		delete(data, id)
	}
	for id := range data {
		// Bytes whose metadata never landed: an upload that did not finish.
		os.Remove(filepath.Join(dir, id))
	}
	syncDir(dir)
	return md, nil
}

func (md *mediaDir) readSidecar(id string) (mediaSidecar, error) {
	var sc mediaSidecar
	b, err := os.ReadFile(filepath.Join(md.dir, id+".json"))
	if err != nil {
		return sc, err
	}
	err = json.Unmarshal(b, &sc)
	return sc, err
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
// damaged item is removed and reported as not existing.
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
		delete(md.items, id)
		delete(md.unsynced, id)
		md.mu.Unlock()
		md.remove(id)
		return nil, fmt.Errorf("failed to read media %s: damaged, removed: %w", id, os.ErrNotExist)
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
