package simulator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"time"
)

// The file store's log, format 2. Every line ends in '\n' and is one
// record:
//
//	<seq> <crc> <json>
//
// seq counts records from 1 with no gap; crc is the CRC-32C (Castagnoli)
// of "<seq> <json>" as 8 lowercase hex digits; json is one Mutation. The
// first line is record 0, the header:
//
//	0 <crc> {"relaysim_store":2,"synced":"00000000000000004096"}
//
// synced is how many bytes at the start of the file are known to be on
// stable storage: it is rewritten in place, at a fixed width, after each
// fsync, and only ever names bytes that fsync already covered. So a file
// shorter than synced was cut by something other than a crash.
//
// What a crash can leave is a torn final record: relaysim writes each
// record with one write call, and a process killed mid-write (a write
// spanning pages can stop between them) or a machine that lost power
// before syncing leaves the last record without its newline, or (power
// loss) with bytes that do not match its checksum. Such a record, after
// the synced bytes and with nothing after it, is dropped and logged.
// Anything else is damage a crash does not explain, and the store
// refuses to open (StoreDamageError) unless FileStoreOptions.Repair.
//
// Format 1, written before checksums, had the header line
// {"relaysim_store":1} and bare JSON records; it still loads, and the
// store then rewrites it in format 2, keeping the old file aside.
const storeFormat = 2

// fileHeaderV1 is the first line of a format 1 store.
const fileHeaderV1 = `{"relaysim_store":1}`

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// storeHeader is the JSON of record 0.
type storeHeader struct {
	Format int    `json:"relaysim_store"`
	Synced string `json:"synced,omitempty"`
}

// syncedWidth keeps the header the same length whatever synced says, so
// it can be rewritten in place.
const syncedWidth = 20

// appendHeader appends the header line naming synced bytes.
func appendHeader(dst []byte, synced int64) []byte {
	body := fmt.Sprintf(`{"relaysim_store":%d,"synced":"%0*d"}`, storeFormat, syncedWidth, synced)
	return appendRecordBody(dst, 0, []byte(body))
}

// appendRecord appends m as record seq.
func appendRecord(dst []byte, seq uint64, m Mutation) ([]byte, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return dst, err
	}
	return appendRecordBody(dst, seq, body), nil
}

func appendRecordBody(dst []byte, seq uint64, body []byte) []byte {
	start := len(dst)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, ' ')
	crc := crc32.Update(crc32.Update(0, castagnoli, dst[start:]), castagnoli, body)
	dst = fmt.Appendf(dst, "%08x ", crc)
	dst = append(dst, body...)
	return append(dst, '\n')
}

// parseRecord splits one line (without its newline) into its sequence
// number and JSON, checking the checksum.
func parseRecord(line []byte) (seq uint64, body []byte, err error) {
	sp := bytes.IndexByte(line, ' ')
	if sp < 1 || sp > 20 {
		return 0, nil, errors.New("not a record (no sequence number)")
	}
	seq, perr := strconv.ParseUint(string(line[:sp]), 10, 64)
	if perr != nil || (line[0] == '0' && sp > 1) {
		return 0, nil, fmt.Errorf("not a record (sequence number %.20q)", line[:sp])
	}
	rest := line[sp+1:]
	if len(rest) < 9 || rest[8] != ' ' {
		return seq, nil, errors.New("not a record (no checksum)")
	}
	want, perr := strconv.ParseUint(string(rest[:8]), 16, 32)
	if perr != nil {
		return seq, nil, fmt.Errorf("not a record (checksum %.8q)", rest[:8])
	}
	body = rest[9:]
	got := crc32.Update(crc32.Update(0, castagnoli, line[:sp+1]), castagnoli, body)
	if got != uint32(want) {
		return seq, body, fmt.Errorf("checksum mismatch (recorded %08x, computed %08x)", want, got)
	}
	return seq, body, nil
}

// StoreDamageError is damage in a file store that a crash does not
// explain: a cut below the synced bytes, an empty file, a bad checksum
// before the last record, a duplicated, missing or reordered record, a
// record that does not apply, or a damaged media item. Loading past it
// could bring back acknowledged events or lose buffered ones, so
// OpenFileStore refuses unless FileStoreOptions.Repair is set. The error
// names the file and the place; it never quotes record contents, which
// may hold secrets.
type StoreDamageError struct {
	// Path is the damaged file.
	Path string
	// Line is the 1-based line of the damaged record; 0 for a media file.
	Line int
	// Offset is the byte offset of the damage in the file.
	Offset int64
	// Cause says what is wrong.
	Cause string
}

func (e *StoreDamageError) Error() string {
	where := fmt.Sprintf("at byte %d", e.Offset)
	if e.Line > 0 {
		where = fmt.Sprintf("at line %d (byte %d)", e.Line, e.Offset)
	}
	return fmt.Sprintf("store file %s is damaged %s: %s; refusing to open the store, since no crash explains this and "+
		"loading past it could bring back acknowledged events, lose buffered ones or serve damaged media: restore a "+
		"backup, or start once with --store-repair (Go: FileStoreOptions.Repair) to keep the damaged file aside and "+
		"load what is intact", e.Path, where, e.Cause)
}

// loadResult is what reading a log found.
type loadResult struct {
	format  int
	records int   // records applied
	end     int64 // offset after the last record applied: where the next record goes
	synced  int64 // what the header claimed (format 2)
	seq     uint64
	torn    *tornRecord
	damage  []*StoreDamageError // with repair: every damage skipped; otherwise empty (the first is returned)
	skipped int                 // records skipped by a repair
	// noHeader: the first line is neither a header nor a damaged one; a
	// repair that then finds no record refuses, since the file is
	// probably not a store at all.
	noHeader bool
}

// tornRecord describes a dropped final record for the log, without its
// contents.
type tornRecord struct {
	line   int
	offset int64
	bytes  int
	cause  string
	attrs  []any
}

// Patterns that name a torn record's change without quoting anything
// secret: the kind, the instance, the buffer id, the gateway id.
var tornFields = []struct {
	key string
	re  *regexp.Regexp
}{
	{"kind", regexp.MustCompile(`"kind":"([a-z_]{1,32})"`)},
	{"instance", regexp.MustCompile(`"instance":"([^"\\]{1,128})"`)},
	{"bufferId", regexp.MustCompile(`"bufferId":"([^"\\]{1,128})"`)},
	{"gatewayId", regexp.MustCompile(`"gatewayId":"([^"\\]{1,128})"`)},
}

func describeTorn(line []byte) []any {
	var attrs []any
	if sp := bytes.IndexByte(line, ' '); sp > 0 && sp <= 20 {
		if seq, err := strconv.ParseUint(string(line[:sp]), 10, 64); err == nil {
			attrs = append(attrs, "seq", seq)
		}
	}
	// Look only before the payload and the secrets, so nothing an event
	// carries can pass for a field of the record.
	for _, stop := range []string{`"payload":`, `"secrets":`} {
		if i := bytes.Index(line, []byte(stop)); i >= 0 {
			line = line[:i]
		}
	}
	for _, f := range tornFields {
		if m := f.re.FindSubmatch(line); m != nil {
			attrs = append(attrs, f.key, string(m[1]))
		}
	}
	return attrs
}

// storeLoader reads a log into a state.
type storeLoader struct {
	path   string
	repair bool
	st     *state
	res    loadResult
}

// damage records damage at a line: with repair it is kept and loading
// goes on; otherwise it is the error to return.
func (l *storeLoader) damage(line int, off int64, format string, args ...any) error {
	d := &StoreDamageError{Path: l.path, Line: line, Offset: off, Cause: fmt.Sprintf(format, args...)}
	if !l.repair {
		return d
	}
	l.res.damage = append(l.res.damage, d)
	return nil
}

// readLine reads one line, its newline included when there is one.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadBytes('\n')
	if errors.Is(err, io.EOF) {
		if len(line) == 0 {
			return nil, io.EOF
		}
		return line, nil
	}
	return line, err
}

// load reads the log at l.path into l.st. A missing file is an empty
// store. The error is a *StoreDamageError for damage, or another error
// for a file that cannot be read or is not a store at all.
func (l *storeLoader) load() error {
	f, err := os.Open(l.path)
	if errors.Is(err, os.ErrNotExist) {
		l.res.format = storeFormat
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to open store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("failed to open store: %w", err)
	}
	size := fi.Size()
	r := bufio.NewReaderSize(f, 64<<10)
	first, err := readLine(r)
	if errors.Is(err, io.EOF) {
		// relaysim creates a store by renaming a synced file that already
		// holds the header, so an empty file was cut.
		l.res.format = storeFormat
		return l.damage(1, 0, "the file is empty, but every store file starts with a header: it was truncated")
	}
	if err != nil {
		return fmt.Errorf("failed to read store %s: %w", l.path, err)
	}
	if string(bytes.TrimSpace(first)) == fileHeaderV1 {
		l.res.format = 1
		return l.loadV1(r, int64(len(first)))
	}
	l.res.format = storeFormat
	return l.loadV2(r, first, size)
}

// loadV2 reads a format 2 log after its first line.
func (l *storeLoader) loadV2(r *bufio.Reader, first []byte, size int64) error {
	off := int64(len(first))
	l.res.end = off
	headerOK := false
	if first[len(first)-1] != '\n' {
		if err := l.damage(1, 0, "the file ends inside its header (%d bytes), which is synced before the file is created: it was truncated", len(first)); err != nil {
			return err
		}
	} else if seq, body, err := parseRecord(first[:len(first)-1]); err != nil || seq != 0 {
		if err == nil || bytes.HasPrefix(first, []byte("0 ")) {
			if err == nil {
				err = fmt.Errorf("first record is %d, not the header", seq)
			}
			if err := l.damage(1, 0, "header: %v", err); err != nil {
				return err
			}
		} else if !l.repair {
			return fmt.Errorf("failed to open store %s: not a relaysim store (first line %.40q)", l.path, bytes.TrimSpace(first))
		} else {
			l.res.noHeader = true
			l.res.damage = append(l.res.damage, &StoreDamageError{Path: l.path, Line: 1, Cause: "no header"})
		}
	} else {
		var h storeHeader
		if err := json.Unmarshal(body, &h); err != nil {
			if err := l.damage(1, 0, "header: %v", err); err != nil {
				return err
			}
		} else if h.Format != storeFormat {
			// Not damage: a file a newer relaysim wrote, which this one
			// must not misread or repair.
			return fmt.Errorf("failed to open store %s: written in format %d, this relaysim reads formats 1 and %d", l.path, h.Format, storeFormat)
		} else if n, err := strconv.ParseInt(h.Synced, 10, 64); err != nil || n < 0 {
			if err := l.damage(1, 0, "header: synced %q is not a byte count", h.Synced); err != nil {
				return err
			}
		} else {
			l.res.synced, headerOK = n, true
		}
	}
	var prev []byte // the last record applied, to tell a duplicate from a reordering
	unread := 0     // records a repair skipped unread since the last one applied: gaps they explain
	for n := 2; ; n++ {
		line, err := readLine(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("failed to read store %s: %w", l.path, err)
		}
		at := off
		off += int64(len(line))
		complete := line[len(line)-1] == '\n'
		last := off == size
		text := line
		if complete {
			text = line[:len(line)-1]
		}
		seq, body, perr := parseRecord(text)
		if !complete {
			perr = errors.New("no newline: the write of this record never finished")
		}
		if perr != nil {
			if last && at >= l.res.synced {
				// A torn final record: the process or the machine died
				// while writing it.
				l.res.torn = &tornRecord{line: n, offset: at, bytes: len(line), cause: perr.Error(), attrs: describeTorn(text)}
				break
			}
			cause := perr.Error()
			switch {
			case !complete:
				cause = fmt.Sprintf("the file ends inside a record, but its first %d bytes were synced: it was truncated", l.res.synced)
			case last:
				cause += fmt.Sprintf(", in the last record but within the first %d bytes, which were synced", l.res.synced)
			default:
				cause += ", and records follow"
			}
			if err := l.damage(n, at, "%s", cause); err != nil {
				return err
			}
			l.res.skipped++
			unread++
			continue
		}
		if want := l.res.seq + 1; seq != want && (seq < want || seq > want+uint64(unread)) {
			var cause string
			switch {
			case seq == l.res.seq && bytes.Equal(text, prev):
				cause = fmt.Sprintf("duplicate record: record %d appears twice in a row", seq)
			case seq <= l.res.seq:
				cause = fmt.Sprintf("record out of sequence: record %d follows record %d (a duplicated, moved or foreign record)", seq, l.res.seq)
			default:
				cause = fmt.Sprintf("record out of sequence: record %d follows record %d (records missing or moved)", seq, l.res.seq)
			}
			if err := l.damage(n, at, "%s", cause); err != nil {
				return err
			}
			if seq <= l.res.seq {
				l.res.skipped++
				continue // a repair keeps the first copy
			}
		}
		var m Mutation
		if err := json.Unmarshal(body, &m); err != nil {
			if err := l.damage(n, at, "record %d: %v", seq, err); err != nil {
				return err
			}
			l.res.skipped++
			continue
		}
		if err := l.st.apply(m); err != nil {
			if err := l.damage(n, at, "record %d: %v", seq, err); err != nil {
				return err
			}
			l.res.skipped++
			continue
		}
		l.res.seq, l.res.records, l.res.end = seq, l.res.records+1, off
		prev = append(prev[:0], text...)
		unread = 0
	}
	if headerOK && size < l.res.synced {
		return l.damage(0, size, "the file is %d bytes, but its first %d bytes were synced: it was truncated", size, l.res.synced)
	}
	return nil
}

// loadV1 reads a format 1 log (bare JSON lines, no checksums) after its
// header. Only what format 1 can show is checked: a torn last line is
// dropped; a bad line before it, or a change that does not apply (such
// as a duplicated append), is damage.
func (l *storeLoader) loadV1(r *bufio.Reader, off int64) error {
	l.res.end = off
	for n := 2; ; n++ {
		line, err := readLine(r)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("failed to read store %s: %w", l.path, err)
		}
		at := off
		off += int64(len(line))
		if line[len(line)-1] != '\n' {
			// Only the last line lacks its newline.
			l.res.torn = &tornRecord{line: n, offset: at, bytes: len(line), cause: "no newline: the write of this record never finished", attrs: describeTorn(line)}
			return nil
		}
		text := bytes.TrimSpace(line)
		if len(text) == 0 {
			l.res.end = off
			continue
		}
		var m Mutation
		if err := json.Unmarshal(text, &m); err != nil {
			if err := l.damage(n, at, "format 1 record: %v", err); err != nil {
				return err
			}
			l.res.skipped++
			continue
		}
		if err := l.st.apply(m); err != nil {
			if err := l.damage(n, at, "format 1 record: %v", err); err != nil {
				return err
			}
			l.res.skipped++
			continue
		}
		l.res.records++
		l.res.end = off
	}
}

// keepAside links (or, where links are not supported, copies) path to
// path.<tag>-<UTC time>, so a later rename over path leaves the original
// readable; a crash at any point leaves path itself intact.
func keepAside(path, tag string, now time.Time) (string, error) {
	base := fmt.Sprintf("%s.%s-%s", path, tag, now.UTC().Format("20060102T150405Z"))
	for i := 1; i <= 100; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		err := os.Link(path, name)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err == nil {
			return name, nil
		}
		err = copyFile(path, name)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		return name, err
	}
	return "", fmt.Errorf("failed to keep %s aside: too many copies named %s*", path, base)
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(to)
	}
	return err
}

// logTorn reports exactly what a torn final record dropped.
func logTorn(log *slog.Logger, path string, t *tornRecord) {
	attrs := append([]any{"path", path, "line", t.line, "offset", t.offset, "bytes", t.bytes, "cause", t.cause}, t.attrs...)
	log.Warn("relaysim: store: dropped a torn final record, left by a crash while it was written", attrs...)
}
