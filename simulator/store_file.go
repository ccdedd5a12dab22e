package simulator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// FsyncMode says when a FileStore forces its log to stable storage.
type FsyncMode string

// Fsync modes.
const (
	// FsyncFlips syncs after every flip change, so going_idle_ack always
	// follows a synced flip (IDLE-003), and on Flush and Close. Other
	// changes reach the operating system at once, so they survive the
	// process dying, but not the machine. This is the default.
	FsyncFlips FsyncMode = "flips"
	// FsyncAlways syncs after every change. Safest, and slow.
	FsyncAlways FsyncMode = "always"
	// FsyncNever syncs only on Flush and Close.
	FsyncNever FsyncMode = "never"
)

// FileStoreOptions configure OpenFileStore.
type FileStoreOptions struct {
	// Fsync says when to sync. Default FsyncFlips.
	Fsync FsyncMode
}

// fileHeader is the first line of a store file; the version lets a later
// format refuse an old file instead of misreading it.
const fileHeader = `{"relaysim_store":1}`

// FileStore is a durable Store: an append-only log of mutations, one JSON
// object a line, compacted into a fresh log when it opens and whenever the
// log has grown well past the state it describes.
//
// It is also a MediaStore: uploaded media lives in the directory PATH.media
// next to the log, each item as a data file named by its id and a JSON
// metadata file, <id>.json, which carries the tenant, type, name, size,
// expiry and SHA-256 of the bytes. Both are written to temporary files and
// renamed into place, data first, so the metadata's rename commits the
// item; at open, temporary files, data without metadata and metadata
// without matching data are removed, and a read whose bytes do not match
// the recorded hash removes the item instead of serving it. Media files are
// not in the log, so media never slows replay or compaction.
//
// The file holds gateway secrets in clear, because verifying a token needs
// them; it is created with mode 0600. The media directory holds tenants'
// uploads; it is mode 0700 and its files 0600.
type FileStore struct {
	mu    sync.Mutex
	path  string
	opts  FileStoreOptions
	f     *os.File
	st    *state
	lines int // mutations in the log since the last compaction
	buf   []byte
	err   error // sticky write error: a log with a hole must not grow further

	media *mediaDir // PATH.media; has its own locks, so uploads never hold up the log
}

// OpenFileStore opens or creates the store at path, and its media
// directory at path+".media".
func OpenFileStore(path string, opts FileStoreOptions) (*FileStore, error) {
	switch opts.Fsync {
	case "":
		opts.Fsync = FsyncFlips
	case FsyncFlips, FsyncAlways, FsyncNever:
	default:
		return nil, fmt.Errorf("failed to open store %s: unknown fsync mode %q", path, opts.Fsync)
	}
	fs := &FileStore{path: path, opts: opts, st: newState()}
	if err := fs.replay(); err != nil {
		return nil, err
	}
	if err := fs.compact(); err != nil {
		return nil, err
	}
	md, err := openMediaDir(path+".media", opts.Fsync == FsyncAlways)
	if err != nil {
		fs.f.Close()
		return nil, fmt.Errorf("failed to open store %s: %w", path, err)
	}
	fs.media = md
	return fs, nil
}

// replay reads an existing log into memory. A torn last line, left by a
// process that died mid-write, is dropped; any other bad line is an error,
// because skipping it could resurrect acked events or lose a flip.
func (fs *FileStore) replay() error {
	f, err := os.Open(fs.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to open store: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			// No trailing newline: the write of this line never finished.
			return nil
		}
		if err != nil {
			return fmt.Errorf("failed to read store %s: %w", fs.path, err)
		}
		line = bytes.TrimSpace(line)
		if n == 1 {
			if string(line) != fileHeader {
				return fmt.Errorf("failed to open store %s: not a relaysim store (first line %.40q)", fs.path, line)
			}
			continue
		}
		if len(line) == 0 {
			continue
		}
		var m Mutation
		if err := json.Unmarshal(line, &m); err != nil {
			return fmt.Errorf("failed to read store %s: line %d: %w", fs.path, n, err)
		}
		if err := fs.st.apply(m); err != nil {
			return fmt.Errorf("failed to read store %s: line %d: %w", fs.path, n, err)
		}
	}
}

// compact writes the current state as a fresh log next to the old one and
// renames it into place, so a crash leaves either the old or the new log.
func (fs *FileStore) compact() error {
	dir := filepath.Dir(fs.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(fs.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("failed to compact store: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to compact store: %w", err)
	}
	w := bufio.NewWriterSize(tmp, 64<<10)
	w.WriteString(fileHeader + "\n")
	lines := 0
	put := func(m Mutation) {
		b, _ := json.Marshal(m)
		w.Write(b)
		w.WriteByte('\n')
		lines++
	}
	snap := fs.st.snapshot()
	for i := range snap.Gateways {
		put(Mutation{Kind: MutGateway, Gateway: &snap.Gateways[i]})
	}
	for _, in := range snap.Instances {
		if in.Flipped {
			put(Mutation{Kind: MutFlip, Instance: in.ID, Flipped: true})
		}
		for _, p := range keys(in.Policies) {
			pol := in.Policies[p]
			put(Mutation{Kind: MutPolicy, Instance: in.ID, Policy: &pol})
		}
		for i := range in.Buffer {
			put(Mutation{Kind: MutAppend, Instance: in.ID, Entry: &in.Buffer[i]})
		}
	}
	for i := range snap.EnrollmentTokens {
		put(Mutation{Kind: MutToken, Token: &snap.EnrollmentTokens[i]})
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to compact store: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to compact store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("failed to compact store: %w", err)
	}
	if err := os.Rename(tmp.Name(), fs.path); err != nil {
		return fmt.Errorf("failed to compact store: %w", err)
	}
	syncDir(dir)
	if fs.f != nil {
		fs.f.Close()
	}
	f, err := os.OpenFile(fs.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("failed to reopen store: %w", err)
	}
	fs.f, fs.lines = f, lines
	return nil
}

// syncDir makes a rename durable; best effort, since some file systems do
// not support syncing directories.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Load returns the state as of the last applied mutation.
func (fs *FileStore) Load() (Snapshot, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.st.snapshot(), nil
}

// Apply appends m to the log with one write, so it survives the process
// dying as soon as Apply returns; whether it is also synced depends on the
// fsync mode.
func (fs *FileStore) Apply(m Mutation) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.err != nil {
		return fs.err
	}
	if fs.f == nil {
		return errors.New("failed to apply mutation: store closed")
	}
	var err error
	fs.buf, err = appendJSONLine(fs.buf[:0], m)
	if err != nil {
		return fmt.Errorf("failed to encode mutation %s: %w", m.Kind, err)
	}
	if _, err := fs.f.Write(fs.buf); err != nil {
		fs.err = fmt.Errorf("failed to write store: %w", err)
		return fs.err
	}
	if err := fs.st.apply(m); err != nil {
		return err
	}
	fs.lines++
	if fs.opts.Fsync == FsyncAlways || (fs.opts.Fsync == FsyncFlips && m.Kind == MutFlip) {
		if err := fs.f.Sync(); err != nil {
			fs.err = fmt.Errorf("failed to sync store: %w", err)
			return fs.err
		}
	}
	if fs.lines > 10000 && fs.lines > 4*fs.st.size() {
		if err := fs.compact(); err != nil {
			fs.err = err
			return err
		}
	}
	return nil
}

func appendJSONLine(dst []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	dst = append(dst, b...)
	return append(dst, '\n'), nil
}

// Flush syncs the log, and media written since the last sync, to stable
// storage.
func (fs *FileStore) Flush() error {
	merr := fs.media.flush()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.f == nil {
		return merr
	}
	if err := fs.f.Sync(); err != nil {
		return fmt.Errorf("failed to sync store: %w", err)
	}
	if fs.err != nil {
		return fs.err
	}
	return merr
}

// Close waits for media operations in flight, syncs and closes the log and
// the media. Later Applies and media operations fail.
func (fs *FileStore) Close() error {
	merr := fs.media.close()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.f == nil {
		return nil
	}
	err := fs.f.Sync()
	if err == nil {
		err = merr
	}
	if cerr := fs.f.Close(); err == nil {
		err = cerr
	}
	fs.f = nil
	if err != nil {
		return fmt.Errorf("failed to close store: %w", err)
	}
	return fs.err
}

// Path returns the file the store writes.
func (fs *FileStore) Path() string { return fs.path }
