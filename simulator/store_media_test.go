package simulator_test

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

// mediaGateways enrolls one gateway of tenant acme and one of globex; as
// Options.Gateways they survive Reset, and the file store keeps them
// across restarts.
var mediaGateways = []simulator.GatewaySpec{
	{GatewayID: "gw1", Tenant: "acme"},
	{GatewayID: "evil", Tenant: "globex"},
}

// mediaRig is a simulator on a FileStore that a test restarts on the same
// path, with the same manual clock.
type mediaRig struct {
	t     *testing.T
	path  string
	clk   *clock.Manual
	fsync simulator.FsyncMode
	opts  simulator.Options
	fs    *simulator.FileStore
	s     *simulator.Server
}

func newMediaRig(t *testing.T, fsync simulator.FsyncMode, opts simulator.Options) *mediaRig {
	r := &mediaRig{t: t, path: filepath.Join(t.TempDir(), "store"), clk: newManual(), fsync: fsync, opts: opts}
	r.open()
	return r
}

func (r *mediaRig) open() {
	r.t.Helper()
	fs, err := simulator.OpenFileStore(r.path, simulator.FileStoreOptions{Fsync: r.fsync})
	if err != nil {
		r.t.Fatal(err)
	}
	opts := r.opts
	opts.Clock, opts.Store, opts.Gateways = r.clk, fs, mediaGateways
	r.fs, r.s = fs, start(r.t, opts)
}

// restart closes the server and the store and opens both again.
func (r *mediaRig) restart() {
	r.t.Helper()
	if err := r.s.Close(); err != nil {
		r.t.Fatal(err)
	}
	if err := r.fs.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.open()
}

func (r *mediaRig) mediaDir() string { return r.path + ".media" }

// files lists the media directory, sorted.
func (r *mediaRig) files() []string {
	r.t.Helper()
	ents, err := os.ReadDir(r.mediaDir())
	if err != nil {
		r.t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// upload posts data as gw and returns the id, failing unless it is 200.
func (r *mediaRig) upload(gw string, data []byte, ctype, name string) string {
	r.t.Helper()
	resp := r.uploadRaw(gw, data, ctype, name)
	if resp.code != http.StatusOK {
		r.t.Fatalf("upload: %d %s", resp.code, resp.body)
	}
	var up contract.MediaUploadResponse
	decode(r.t, resp.body, &up)
	if up.Size != int64(len(data)) || len(up.ID) != 32 {
		r.t.Fatalf("upload answer %+v", up)
	}
	return up.ID
}

func (r *mediaRig) uploadRaw(gw string, data []byte, ctype, name string) rawResp {
	r.t.Helper()
	h := bearerHeader(mustToken(r.t, r.s, gw))
	h.Set("Content-Type", ctype)
	if name != "" {
		h.Set(contract.HeaderMediaFilename, name)
	}
	return doRaw(r.t, "POST", r.s.URL()+contract.PathMedia, h, data)
}

func (r *mediaRig) get(gw, id string) rawResp {
	r.t.Helper()
	return doRaw(r.t, "GET", r.s.URL()+contract.PathMedia+"/"+id, bearerHeader(mustToken(r.t, r.s, gw)), nil)
}

// expectGone checks that id answers exactly like an id never issued.
func (r *mediaRig) expectGone(gw, id string) {
	r.t.Helper()
	unknown := r.get(gw, strings.Repeat("0", 32))
	got := r.get(gw, id)
	if got.code != http.StatusNotFound || !bytes.Equal(got.body, unknown.body) {
		r.t.Fatalf("%s: %d %q, want the unknown-id answer %d %q", id, got.code, got.body, unknown.code, unknown.body)
	}
}

func TestFileStoreMediaSurvivesRestart(t *testing.T) {
	r := newMediaRig(t, simulator.FsyncAlways, simulator.Options{})
	data := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000)...)
	id := r.upload("gw1", data, "image/png", "kät photo.png")

	if st, err := os.Stat(r.mediaDir()); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("media directory: %v %v", st, err)
	}
	if got := strings.Join(r.files(), ","); got != id+","+id+".json" {
		t.Fatalf("media files %s", got)
	}
	for _, name := range r.files() {
		if st, _ := os.Stat(filepath.Join(r.mediaDir(), name)); st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v", name, st.Mode())
		}
	}

	r.restart()
	got := r.get("gw1", id)
	if got.code != http.StatusOK || !bytes.Equal(got.body, data) {
		t.Fatalf("after restart: %d, %d bytes", got.code, len(got.body))
	}
	if ct := got.header.Get("Content-Type"); ct != "image/png" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cl := got.header.Get("Content-Length"); cl != strconv.Itoa(len(data)) {
		t.Fatalf("Content-Length %q", cl)
	}
	if cd := got.header.Get("Content-Disposition"); cd != `attachment; filename*=utf-8''k%C3%A4t%20photo.png` {
		t.Fatalf("Content-Disposition %q", cd)
	}
	head := doRaw(t, "HEAD", r.s.URL()+contract.PathMedia+"/"+id, bearerHeader(mustToken(t, r.s, "gw1")), nil)
	if head.code != http.StatusOK || head.header.Get("Content-Length") != strconv.Itoa(len(data)) {
		t.Fatalf("HEAD: %d %v", head.code, head.header)
	}
	// Another tenant still sees nothing (HTTP-020).
	r.expectGone("evil", id)
	// And the item survives a second restart, on a store that never
	// rewrote it.
	r.restart()
	if got := r.get("gw1", id); got.code != http.StatusOK || !bytes.Equal(got.body, data) {
		t.Fatalf("after second restart: %d", got.code)
	}
}

func TestFileStoreMediaExpiresAcrossRestart(t *testing.T) {
	r := newMediaRig(t, "", simulator.Options{})
	early := r.upload("gw1", []byte("early"), "text/plain", "")
	r.clk.Advance(30 * time.Minute)
	late := r.upload("gw1", []byte("late"), "text/plain", "")
	r.restart()
	if got := r.get("gw1", early); got.code != http.StatusOK || string(got.body) != "early" {
		t.Fatalf("early before its hour: %d %q", got.code, got.body)
	}

	// Stopped past the first item's hour: the restart drops it, files
	// and all, before anything asks for it.
	r.s.Close()
	r.fs.Close()
	r.clk.Advance(simulator.DefaultMediaTTL - 30*time.Minute + time.Second)
	r.open()
	if got := strings.Join(r.files(), ","); got != late+","+late+".json" {
		t.Fatalf("media files after restart %s, want only %s", got, late)
	}
	r.expectGone("gw1", early)
	if got := r.get("gw1", late); got.code != http.StatusOK || string(got.body) != "late" {
		t.Fatalf("late: %d %q", got.code, got.body)
	}

	// A download past the hour deletes the files as well.
	r.clk.Advance(30 * time.Minute)
	r.expectGone("gw1", late)
	if got := r.files(); len(got) != 0 {
		t.Fatalf("media files after expiry %v", got)
	}
}

// What a crash during an upload or a delete leaves is cleaned up at open.
func TestFileStoreMediaCleansDebrisAtOpen(t *testing.T) {
	r := newMediaRig(t, simulator.FsyncNever, simulator.Options{})
	kept := r.upload("gw1", []byte("kept"), "text/plain", "kept.txt")
	uncommitted := r.upload("gw1", []byte("never committed"), "text/plain", "")
	r.s.Close()
	r.fs.Close()

	dir := r.mediaDir()
	// A crash between the data's rename and the metadata's (or between a
	// delete's removal of the metadata and of the data): bytes with no
	// metadata.
	if err := os.Remove(filepath.Join(dir, uncommitted+".json")); err != nil {
		t.Fatal(err)
	}
	// Torn temporary files of an upload in flight.
	torn := strings.Repeat("ab", 16)
	for _, name := range []string{".tmp-" + torn + "-123", ".tmp-" + torn + ".json-456"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Not ours: left alone, never served.
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	r.open()
	if got := strings.Join(r.files(), ","); got != kept+","+kept+".json,notes.txt" {
		t.Fatalf("media files after open: %s", got)
	}
	if got := r.get("gw1", kept); got.code != http.StatusOK || string(got.body) != "kept" {
		t.Fatalf("kept: %d %q", got.code, got.body)
	}
	for _, id := range []string{uncommitted, torn} {
		r.expectGone("gw1", id)
	}
	recs, err := r.fs.LoadMedia()
	if err != nil || len(recs) != 1 || recs[0].ID != kept || recs[0].Filename != "kept.txt" || recs[0].Tenant != "acme" {
		t.Fatalf("LoadMedia %+v %v", recs, err)
	}
}

// Media damage no crash explains is refused at open, the files untouched;
// with Repair the item is moved aside and the rest is served. Before, each
// was removed silently, and metadata rewritten to another tenant was
// served to that tenant.
func TestFileStoreMediaRefusesDamage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir, id string)
		want   string
	}{
		{"data cut short", func(t *testing.T, dir, id string) {
			os.Truncate(filepath.Join(dir, id), 3)
		}, "is 3 bytes, its metadata says 20"},
		{"metadata without data", func(t *testing.T, dir, id string) {
			os.Remove(filepath.Join(dir, id))
		}, "without its data file"},
		{"metadata not JSON", func(t *testing.T, dir, id string) {
			os.WriteFile(filepath.Join(dir, id+".json"), []byte(`{"id":"`), 0o600)
		}, "not JSON"},
		{"metadata moved to another tenant", func(t *testing.T, dir, id string) {
			name := filepath.Join(dir, id+".json")
			b, _ := os.ReadFile(name)
			os.WriteFile(name, bytes.Replace(b, []byte(`"tenant":"acme"`), []byte(`"tenant":"globex"`), 1), 0o600)
		}, "checksum mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newMediaRig(t, simulator.FsyncAlways, simulator.Options{})
			kept := r.upload("gw1", []byte("kept"), "text/plain", "")
			id := r.upload("gw1", []byte("twenty bytes of data"), "text/plain", "")
			r.s.Close()
			r.fs.Close()
			dir := r.mediaDir()
			tc.damage(t, dir, id)
			before := r.files()

			_, err := simulator.OpenFileStore(r.path, simulator.FileStoreOptions{})
			var dmg *simulator.StoreDamageError
			if !errors.As(err, &dmg) || dmg.Path != filepath.Join(dir, id+".json") || !strings.Contains(dmg.Cause, tc.want) ||
				!strings.Contains(err.Error(), "--store-repair") {
				t.Fatalf("open: %v, want damage of %s.json: %q", err, id, tc.want)
			}
			if after := r.files(); !slices.Equal(before, after) {
				t.Fatalf("refusing changed the media: %v -> %v", before, after)
			}

			fs, err := simulator.OpenFileStore(r.path, simulator.FileStoreOptions{Repair: true})
			if err != nil {
				t.Fatal(err)
			}
			recs, _ := fs.LoadMedia()
			fs.Close()
			if len(recs) != 1 || recs[0].ID != kept {
				t.Fatalf("after repair %+v", recs)
			}
			var aside []string
			for _, f := range r.files() {
				if strings.HasPrefix(f, id) {
					if !strings.Contains(f, ".damaged-") {
						t.Fatalf("damaged file %s not moved aside", f)
					}
					aside = append(aside, f)
				}
			}
			if len(aside) == 0 {
				t.Fatalf("nothing kept aside: %v", r.files())
			}
			r.open()
			r.expectGone("gw1", id)
			r.expectGone("evil", id)
		})
	}
}

// Bytes damaged after the item loaded are never served: the read finds
// the hash wrong, answers 404 and moves the item aside for the operator.
func TestFileStoreMediaDamagedBytesNotServed(t *testing.T) {
	r := newMediaRig(t, "", simulator.Options{})
	id := r.upload("gw1", []byte("original bytes"), "text/plain", "")
	r.restart()
	// Same size, other bytes: what a machine crash can leave behind.
	if err := os.WriteFile(filepath.Join(r.mediaDir(), id), []byte("garbled bytes!"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.expectGone("gw1", id)
	got := r.files()
	if len(got) != 2 || !strings.HasPrefix(got[0], id+".damaged-") || !strings.HasPrefix(got[1], id+".json.damaged-") {
		t.Fatalf("damaged item not kept aside: %v", got)
	}
	if b, _ := os.ReadFile(filepath.Join(r.mediaDir(), got[0])); string(b) != "garbled bytes!" {
		t.Fatalf("kept aside %q", b)
	}
	// The next start loads cleanly, without the item.
	r.restart()
	r.expectGone("gw1", id)
}

func TestFileStoreMediaReset(t *testing.T) {
	r := newMediaRig(t, "", simulator.Options{})
	id := r.upload("gw1", []byte("to be reset"), "text/plain", "")
	if err := r.s.Reset(); err != nil {
		t.Fatal(err)
	}
	if got := r.files(); len(got) != 0 {
		t.Fatalf("media files after Reset %v", got)
	}
	r.expectGone("gw1", id)
	r.restart()
	r.expectGone("gw1", id)
	// The store still takes uploads after a reset.
	again := r.upload("gw1", []byte("after reset"), "text/plain", "")
	if got := r.get("gw1", again); got.code != http.StatusOK || string(got.body) != "after reset" {
		t.Fatalf("after reset: %d %q", got.code, got.body)
	}
}

func TestFileStoreMediaTotalCountsReloaded(t *testing.T) {
	r := newMediaRig(t, "", simulator.Options{MediaMaxTotal: 100})
	first := r.upload("gw1", bytes.Repeat([]byte{'a'}, 60), "application/octet-stream", "")
	r.restart()
	if resp := r.uploadRaw("gw1", bytes.Repeat([]byte{'b'}, 41), "application/octet-stream", ""); resp.code != http.StatusInsufficientStorage {
		t.Fatalf("over the cap with the reloaded item: %d %s", resp.code, resp.body)
	}
	second := r.upload("gw1", bytes.Repeat([]byte{'c'}, 40), "application/octet-stream", "")
	if resp := r.uploadRaw("gw1", []byte{'d'}, "application/octet-stream", ""); resp.code != http.StatusInsufficientStorage {
		t.Fatalf("full: %d", resp.code)
	}
	// Expiry gives the room back, and deletes the files.
	r.clk.Advance(simulator.DefaultMediaTTL + time.Second)
	third := r.upload("gw1", bytes.Repeat([]byte{'e'}, 100), "application/octet-stream", "")
	if got := strings.Join(r.files(), ","); got != third+","+third+".json" {
		t.Fatalf("media files %s, want only %s (not %s, %s)", got, third, first, second)
	}
}

// flakyMediaStore is a MemoryStore that keeps media in a map and fails
// the first PutMedia.
type flakyMediaStore struct {
	*simulator.MemoryStore
	mu    sync.Mutex
	puts  int
	items map[string][]byte
	recs  map[string]simulator.MediaRecord
}

func (f *flakyMediaStore) PutMedia(m simulator.MediaRecord, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts++
	if f.puts == 1 {
		return errors.New("disk full at /secret/path")
	}
	f.items[m.ID], f.recs[m.ID] = append([]byte(nil), data...), m
	return nil
}

func (f *flakyMediaStore) DeleteMedia(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.items, id)
	delete(f.recs, id)
	return nil
}

func (f *flakyMediaStore) LoadMedia() ([]simulator.MediaRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []simulator.MediaRecord
	for _, r := range f.recs {
		out = append(out, r)
	}
	return out, nil
}

func (f *flakyMediaStore) ReadMedia(id string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.items[id]
	if !ok {
		return nil, os.ErrNotExist
	}
	return b, nil
}

func TestMediaStorePutFailureKeepsNothing(t *testing.T) {
	store := &flakyMediaStore{MemoryStore: simulator.NewMemoryStore(), items: map[string][]byte{}, recs: map[string]simulator.MediaRecord{}}
	s := start(t, simulator.Options{Store: store, MediaMaxTotal: 10})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
	h := bearerHeader(mustToken(t, s, "gw1"))
	resp := doRaw(t, "POST", s.URL()+contract.PathMedia, h, []byte("12345678"))
	var e contract.ErrorBody
	decode(t, resp.body, &e)
	if resp.code != http.StatusInternalServerError || e.Error == "" || strings.Contains(e.Error, "/secret/path") {
		t.Fatalf("failed store: %d %+v", resp.code, e)
	}
	// The failed upload gave its room back: 8 more bytes fit under 10.
	var up contract.MediaUploadResponse
	if code := httpDo(t, "POST", s.URL()+contract.PathMedia, h, []byte("abcdefgh"), &up); code != http.StatusOK {
		t.Fatalf("second upload: %d", code)
	}
	store.mu.Lock()
	n := len(store.items)
	store.mu.Unlock()
	if n != 1 {
		t.Fatalf("store holds %d items, want 1", n)
	}
	if got := doRaw(t, "GET", s.URL()+contract.PathMedia+"/"+up.ID, h, nil); got.code != http.StatusOK || string(got.body) != "abcdefgh" {
		t.Fatalf("download: %d %q", got.code, got.body)
	}
}

func TestFileStoreMediaAPI(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "store")
	fs, err := simulator.OpenFileStore(path, simulator.FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fs.MediaDir() != path+".media" {
		t.Fatalf("MediaDir %q", fs.MediaDir())
	}
	exp := testkit.Epoch.Add(time.Hour)
	for _, id := range []string{"", "../store", "../../etc/passwd", strings.Repeat("A", 32), strings.Repeat("a", 31), strings.Repeat("a", 33), strings.Repeat("a", 30) + "/x", strings.Repeat("g", 32)} {
		if err := fs.PutMedia(simulator.MediaRecord{ID: id, Tenant: "t", Size: 1, Expires: exp}, []byte("x")); err == nil {
			t.Fatalf("PutMedia(%q) succeeded", id)
		}
		if _, err := fs.ReadMedia(id); err == nil {
			t.Fatalf("ReadMedia(%q) succeeded", id)
		}
		if err := fs.DeleteMedia(id); err == nil {
			t.Fatalf("DeleteMedia(%q) succeeded", id)
		}
	}
	good := strings.Repeat("0123456789abcdef", 2)
	if err := fs.PutMedia(simulator.MediaRecord{ID: good, Tenant: "t", Size: 5, Expires: exp}, []byte("x")); err == nil {
		t.Fatal("PutMedia with a wrong size succeeded")
	}
	if err := fs.PutMedia(simulator.MediaRecord{ID: good, Size: 1, Expires: exp}, []byte("x")); err == nil {
		t.Fatal("PutMedia without a tenant succeeded")
	}
	if _, err := fs.ReadMedia(good); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadMedia of an unknown id: %v", err)
	}
	// Header values are bytes, not necessarily UTF-8; they come back as sent.
	rec := simulator.MediaRecord{ID: good, Tenant: "t", ContentType: "text/plain; x=\xff", Filename: "caf\xe9.txt", Size: 3, Expires: exp}
	if err := fs.PutMedia(rec, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	if err := fs.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fs.PutMedia(simulator.MediaRecord{ID: strings.Repeat("e", 32), Tenant: "t", Size: 1}, []byte("x")); err == nil {
		t.Fatal("PutMedia after Close succeeded")
	}
	fs, err = simulator.OpenFileStore(path, simulator.FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	recs, err := fs.LoadMedia()
	if err != nil || len(recs) != 1 || !recs[0].Expires.Equal(exp) {
		t.Fatalf("LoadMedia %+v %v", recs, err)
	}
	recs[0].Expires = exp
	if recs[0] != rec {
		t.Fatalf("record %#v, want %#v", recs[0], rec)
	}
	if b, err := fs.ReadMedia(good); err != nil || string(b) != "abc" {
		t.Fatalf("ReadMedia %q %v", b, err)
	}
	if err := fs.DeleteMedia(good); err != nil {
		t.Fatal(err)
	}
	if err := fs.DeleteMedia(good); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if _, err := fs.ReadMedia(good); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadMedia after delete: %v", err)
	}
	// Nothing was ever written outside the two paths.
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "store,store.media" {
		t.Fatalf("directory holds %v", names)
	}
	if left, _ := os.ReadDir(path + ".media"); len(left) != 0 {
		t.Fatalf("media directory holds %d files after delete", len(left))
	}
}
