package simulator

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
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
	// Repair opens a damaged store instead of refusing it: the damaged
	// log is kept aside as PATH.damaged-<UTC time> (and damaged media
	// items as <id>.damaged-<time> and <id>.json.damaged-<time> in
	// PATH.media), every intact record is loaded, every damaged spot is
	// logged, and a fresh log is written. Default false: damage a crash
	// does not explain is a *StoreDamageError.
	Repair bool
	// Logger receives what opening found: a torn final record dropped,
	// crash debris removed, a migration, a repair. Records' contents
	// (secrets, payloads) are never logged. Default: discarded.
	Logger *slog.Logger
}

// FileStore is a durable Store: an append-only log of mutations, one
// checksummed, numbered record a line, compacted into a fresh log when it
// opens and whenever the log has grown well past the state it describes.
// store_format.go describes the format and what counts as damage.
//
// Opening reads the whole log. A torn final record, which a crash while
// writing it leaves, is dropped and logged with its line, offset, size,
// kind, instance and buffer id. Any other damage (a file cut below the
// bytes known synced, an empty file, a bad checksum before the last
// record, a duplicated, missing or reordered record, a record that does
// not apply) makes OpenFileStore fail with a *StoreDamageError naming the
// file, the line, the byte offset and the cause, unless
// FileStoreOptions.Repair. A store never compacts over a file that did not
// load cleanly: a repair, and the migration of a format 1 file, first keep
// the original aside.
//
// It is also a MediaStore: uploaded media lives in the directory PATH.media
// next to the log, each item as a data file named by its id and a JSON
// metadata file, <id>.json, which carries the tenant, type, name, size,
// expiry, SHA-256 of the bytes, and a CRC-32C of itself. Both are written
// to temporary files and renamed into place, data first, so the metadata's
// rename commits the item; at open, temporary files and data without
// metadata (an upload or a delete that a crash interrupted) are removed,
// while metadata that is damaged, without its data, or of another size
// than its data is damage like the log's. A read whose bytes do not match
// the recorded hash moves the item aside instead of serving it. Media
// files are not in the log, so media never slows replay or compaction.
//
// The file holds gateway secrets in clear, because verifying a token needs
// them; it is created with mode 0600. The media directory holds tenants'
// uploads; it is mode 0700 and its files 0600.
type FileStore struct {
	mu     sync.Mutex
	path   string
	opts   FileStoreOptions
	log    *slog.Logger
	f      *os.File // read-write, not append: records go at size, the header is rewritten in place
	st     *state
	seq    uint64 // the last record's sequence number
	size   int64  // bytes in the log
	synced int64  // bytes covered by the last fsync
	lines  int    // records in the log since the last compaction
	buf    []byte
	hdr    []byte
	err    error // sticky write error: a log with a hole must not grow further

	media *mediaDir // PATH.media; has its own locks, so uploads never hold up the log
}

// OpenFileStore opens or creates the store at path, and its media
// directory at path+".media". A damaged store is a *StoreDamageError
// unless opts.Repair.
func OpenFileStore(path string, opts FileStoreOptions) (*FileStore, error) {
	switch opts.Fsync {
	case "":
		opts.Fsync = FsyncFlips
	case FsyncFlips, FsyncAlways, FsyncNever:
	default:
		return nil, fmt.Errorf("failed to open store %s: unknown fsync mode %q", path, opts.Fsync)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fs := &FileStore{path: path, opts: opts, log: log, st: newState()}
	removeCompactionDebris(path, log)
	l := &storeLoader{path: path, repair: opts.Repair, st: fs.st}
	if err := l.load(); err != nil {
		return nil, err
	}
	res := l.res
	if res.noHeader && res.records == 0 {
		return nil, fmt.Errorf("failed to open store %s: not a relaysim store (no header and no intact record), so not repaired", path)
	}
	if res.torn != nil {
		logTorn(log, path, res.torn)
	}
	now := time.Now()
	switch {
	case len(res.damage) > 0:
		aside, err := keepAside(path, "damaged", now)
		if err != nil {
			return nil, fmt.Errorf("failed to repair store %s: %w", path, err)
		}
		for i, d := range res.damage {
			if i == 20 {
				log.Error("relaysim: store: repair: more damage not listed", "path", path, "more", len(res.damage)-i)
				break
			}
			log.Error("relaysim: store: repair: damage", "path", path, "line", d.Line, "offset", d.Offset, "cause", d.Cause)
		}
		log.Warn("relaysim: store: repaired: loaded every intact record; the damaged file is kept aside",
			"path", path, "kept", aside, "records", res.records, "skipped", res.skipped, "damaged", len(res.damage))
	case res.format == 1:
		aside, err := keepAside(path, "format1", now)
		if err != nil {
			return nil, fmt.Errorf("failed to migrate store %s: %w", path, err)
		}
		log.Info("relaysim: store: rewriting a format 1 store in format 2 (checksummed records); the original is kept aside",
			"path", path, "kept", aside, "records", res.records)
	}
	if err := fs.compact(); err != nil {
		return nil, err
	}
	md, err := openMediaDir(path+".media", mediaOptions{sync: opts.Fsync == FsyncAlways, repair: opts.Repair, log: log, now: now})
	if err != nil {
		fs.f.Close()
		return nil, fmt.Errorf("failed to open store %s: %w", path, err)
	}
	fs.media = md
	return fs, nil
}

// removeCompactionDebris removes temporary logs a compaction left when
// the process died before renaming one into place: path.tmp<digits>.
func removeCompactionDebris(path string, log *slog.Logger) {
	dir, base := filepath.Dir(path), filepath.Base(path)+".tmp"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), base)
		if !ok || rest == "" || strings.Trim(rest, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err == nil {
			log.Info("relaysim: store: removed the temporary file of a compaction a crash interrupted", "file", e.Name())
		}
	}
}

// compact writes the current state as a fresh log next to the old one,
// syncs it and renames it into place, so a crash leaves either the old or
// the new log. The new log's header names all its bytes as synced.
func (fs *FileStore) compact() error {
	snap := fs.st.snapshot()
	var body []byte
	var seq uint64
	put := func(m Mutation) error {
		seq++
		var err error
		body, err = appendRecord(body, seq, m)
		return err
	}
	var err error
	for i := range snap.Gateways {
		err = errors.Join(err, put(Mutation{Kind: MutGateway, Gateway: &snap.Gateways[i]}))
	}
	for _, in := range snap.Instances {
		if in.Flipped {
			err = errors.Join(err, put(Mutation{Kind: MutFlip, Instance: in.ID, Flipped: true}))
		}
		for _, p := range keys(in.Policies) {
			pol := in.Policies[p]
			err = errors.Join(err, put(Mutation{Kind: MutPolicy, Instance: in.ID, Policy: &pol}))
		}
		for i := range in.Buffer {
			err = errors.Join(err, put(Mutation{Kind: MutAppend, Instance: in.ID, Entry: &in.Buffer[i]}))
		}
	}
	for i := range snap.EnrollmentTokens {
		err = errors.Join(err, put(Mutation{Kind: MutToken, Token: &snap.EnrollmentTokens[i]}))
	}
	if err != nil {
		return fmt.Errorf("failed to compact store: %w", err)
	}
	hdr := appendHeader(nil, 0)
	total := int64(len(hdr) + len(body))
	hdr = appendHeader(hdr[:0], total)

	dir := filepath.Dir(fs.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(fs.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("failed to compact store: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	werr := tmp.Chmod(0o600)
	if werr == nil {
		_, werr = tmp.Write(hdr)
	}
	if werr == nil {
		_, werr = tmp.Write(body)
	}
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), fs.path)
	}
	if werr != nil {
		return fmt.Errorf("failed to compact store: %w", werr)
	}
	syncDir(dir)
	if fs.f != nil {
		fs.f.Close()
	}
	f, err := os.OpenFile(fs.path, os.O_RDWR, 0o600)
	if err != nil {
		fs.f = nil
		return fmt.Errorf("failed to reopen store: %w", err)
	}
	fs.f, fs.seq, fs.size, fs.synced, fs.lines = f, seq, total, total, int(seq)
	return nil
}

// sync forces the log to stable storage and then records in the header
// that its bytes so far are synced. The header's own write reaches the
// disk with the next sync, so it never claims bytes that are not synced.
func (fs *FileStore) sync() error {
	if err := fs.f.Sync(); err != nil {
		return err
	}
	if fs.synced == fs.size {
		return nil
	}
	fs.synced = fs.size
	fs.hdr = appendHeader(fs.hdr[:0], fs.synced)
	_, err := fs.f.WriteAt(fs.hdr, 0)
	return err
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
// fsync mode. A change that would not replay is refused before anything
// is written.
func (fs *FileStore) Apply(m Mutation) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.err != nil {
		return fs.err
	}
	if fs.f == nil {
		return errors.New("failed to apply mutation: store closed")
	}
	if err := fs.st.check(m); err != nil {
		return err
	}
	var err error
	fs.buf, err = appendRecord(fs.buf[:0], fs.seq+1, m)
	if err != nil {
		return fmt.Errorf("failed to encode mutation %s: %w", m.Kind, err)
	}
	if _, err := fs.f.WriteAt(fs.buf, fs.size); err != nil {
		// A short write (a full disk) left part of a record: take it back,
		// so the next record does not follow a torn one. Only when that
		// fails too is the log unusable.
		if terr := fs.f.Truncate(fs.size); terr != nil {
			fs.err = fmt.Errorf("failed to write store: %w", errors.Join(err, terr))
			return fs.err
		}
		return fmt.Errorf("failed to write store: %w", err)
	}
	fs.size += int64(len(fs.buf))
	fs.seq++
	fs.st.apply(m) // checked above
	fs.lines++
	if fs.opts.Fsync == FsyncAlways || (fs.opts.Fsync == FsyncFlips && m.Kind == MutFlip) {
		if err := fs.sync(); err != nil {
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

// Flush syncs the log, and media written since the last sync, to stable
// storage.
func (fs *FileStore) Flush() error {
	merr := fs.media.flush()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.f == nil {
		return merr
	}
	if err := fs.sync(); err != nil {
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
	err := fs.sync()
	if err == nil {
		// Sync the header too: after a clean close every byte is known
		// synced, so any cut of the file is refused.
		err = fs.f.Sync()
	}
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
