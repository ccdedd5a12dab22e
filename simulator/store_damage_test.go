package simulator_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

// debugLogger logs at debug level into b, as text.
func debugLogger(b *testkit.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

const damageSecret = "s3cr3t-never-logged"

func bufEntry(id string) *simulator.BufferedEntry {
	return &simulator.BufferedEntry{BufferID: id, FrameType: "inbound", Platform: "discord",
		Payload: json.RawMessage(`{"text":"event ` + id + `"}`)}
}

// writeStore writes a gateway and n buffered events through the API and
// closes the store cleanly, as a graceful shutdown does.
func writeStore(t *testing.T, path string, n int) {
	t.Helper()
	fs, err := simulator.OpenFileStore(path, simulator.FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g := simulator.GatewayRecord{GatewayID: "gw1", Tenant: "t", Secrets: []string{damageSecret}, InstanceID: "i1", Platforms: []string{"discord"}}
	if err := fs.Apply(simulator.Mutation{Kind: simulator.MutGateway, Gateway: &g}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if err := fs.Apply(simulator.Mutation{Kind: simulator.MutAppend, Instance: "i1", Entry: bufEntry(fmt.Sprintf("b%03d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := fs.Close(); err != nil {
		t.Fatal(err)
	}
}

// storeLines returns the file's lines, newline kept.
func storeLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(string(b), "\n")
}

func bufferIDs(t *testing.T, fs *simulator.FileStore) []string {
	t.Helper()
	snap, err := fs.Load()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range snap.Instances {
		for _, e := range in.Buffer {
			ids = append(ids, e.BufferID)
		}
	}
	return ids
}

// expectRefused opens path and wants a *StoreDamageError at line (0: any
// line) whose cause contains want; the file must be left exactly as it was.
func expectRefused(t *testing.T, path string, line int, want string) *simulator.StoreDamageError {
	t.Helper()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := simulator.OpenFileStore(path, simulator.FileStoreOptions{})
	if err == nil {
		ids := bufferIDs(t, fs)
		fs.Close()
		t.Fatalf("opened a damaged store: %d entries loaded", len(ids))
	}
	var dmg *simulator.StoreDamageError
	if !errors.As(err, &dmg) {
		t.Fatalf("error %v (%T), want a *StoreDamageError", err, err)
	}
	if dmg.Path != path || (line > 0 && dmg.Line != line) || !strings.Contains(dmg.Cause, want) {
		t.Fatalf("damage %+v, want %s line %d with cause containing %q", dmg, path, line, want)
	}
	msg := err.Error()
	for _, w := range []string{path, fmt.Sprintf("byte %d", dmg.Offset), "--store-repair"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q lacks %q", msg, w)
		}
	}
	if strings.Contains(msg, damageSecret) {
		t.Errorf("error leaks the secret: %s", msg)
	}
	after, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("refusing changed the damaged file (%v): %d bytes before, %d after", err, len(before), len(after))
	}
	for _, pattern := range []string{".damaged-*", ".format1-*"} {
		if kept, _ := filepath.Glob(path + pattern); len(kept) != 0 {
			t.Fatalf("refusing kept copies %v", kept)
		}
	}
	return dmg
}

// The file cut in half, at any byte, below what was synced: before, 48 of
// 100 events loaded with no log line.
func TestFileStoreRefusesTruncation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  func(lines []string) int
	}{
		{"half", func(lines []string) int { return len(strings.Join(lines, "")) / 2 }},
		{"at a record boundary", func(lines []string) int { return len(strings.Join(lines[:60], "")) }},
		{"last record", func(lines []string) int { return len(strings.Join(lines, "")) - 10 }},
		{"inside the header", func(lines []string) int { return 10 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "store")
			writeStore(t, path, 100)
			if err := os.Truncate(path, int64(tc.cut(storeLines(t, path)))); err != nil {
				t.Fatal(err)
			}
			expectRefused(t, path, 0, "truncated")
		})
	}
}

// Cut to 0 bytes: before, relaysim started fresh and every gateway and
// secret was gone.
func TestFileStoreRefusesEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store")
	writeStore(t, path, 3)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	dmg := expectRefused(t, path, 1, "empty")
	if dmg.Offset != 0 {
		t.Fatalf("offset %d", dmg.Offset)
	}
}

// One flipped byte inside a record that still parses: before, it loaded
// as if nothing happened.
func TestFileStoreRefusesBadChecksum(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store")
	writeStore(t, path, 10)
	lines := storeLines(t, path)
	// Line 6 is the append of b004 (header, gateway, b001, b002, b003).
	if !strings.Contains(lines[5], `"b004"`) {
		t.Fatalf("line 6 is %q", lines[5])
	}
	lines[5] = strings.Replace(lines[5], `"b004"`, `"b00X"`, 1)
	os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600)
	dmg := expectRefused(t, path, 6, "checksum mismatch")
	if want := int64(len(strings.Join(lines[:5], ""))); dmg.Offset != want {
		t.Fatalf("offset %d, want %d", dmg.Offset, want)
	}
}

// A duplicated line: before, two entries shared a buffer id.
func TestFileStoreRefusesDuplicateRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store")
	writeStore(t, path, 10)
	lines := storeLines(t, path)
	dup := append(append(append([]string{}, lines[:6]...), lines[5]), lines[6:]...)
	os.WriteFile(path, []byte(strings.Join(dup, "")), 0o600)
	expectRefused(t, path, 7, "duplicate record")

	// The same line further down.
	moved := append(append(append([]string{}, lines[:9]...), lines[5]), lines[9:]...)
	os.WriteFile(path, []byte(strings.Join(moved, "")), 0o600)
	expectRefused(t, path, 10, "out of sequence")
}

// Two records swapped, and one deleted: before, both loaded.
func TestFileStoreRefusesRecordsOutOfSequence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store")
	writeStore(t, path, 10)
	lines := storeLines(t, path)
	swapped := append([]string{}, lines...)
	swapped[4], swapped[5] = swapped[5], swapped[4]
	os.WriteFile(path, []byte(strings.Join(swapped, "")), 0o600)
	expectRefused(t, path, 5, "out of sequence")

	missing := append(append([]string{}, lines[:4]...), lines[5:]...)
	os.WriteFile(path, []byte(strings.Join(missing, "")), 0o600)
	expectRefused(t, path, 5, "records missing")
}

// crashImage copies the store's log as it is on disk now, without closing
// the store: what a kill -9 leaves.
func crashImage(t *testing.T, fs *simulator.FileStore) string {
	t.Helper()
	b, err := os.ReadFile(fs.Path())
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "crashed")
	if err := os.WriteFile(img, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return img
}

// A process killed in the middle of writing its last record leaves it
// torn: dropped, and the log says exactly what was dropped, with no secret.
func TestFileStoreTornTailDroppedAndLogged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store")
	fs, err := simulator.OpenFileStore(path, simulator.FileStoreOptions{Fsync: simulator.FsyncNever})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	for _, id := range []string{"b1", "b2"} {
		if err := fs.Apply(simulator.Mutation{Kind: simulator.MutAppend, Instance: "i1", Entry: bufEntry(id)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := fs.Apply(simulator.Mutation{Kind: simulator.MutRemove, Instance: "i1", BufferID: "b1"}); err != nil {
		t.Fatal(err)
	}
	// An event whose payload looks like a record's fields.
	sneaky := bufEntry("b3")
	sneaky.Payload = json.RawMessage(`{"gatewayId":"from-the-payload","bufferId":"fake","text":"` + damageSecret + `"}`)
	if err := fs.Apply(simulator.Mutation{Kind: simulator.MutAppend, Instance: "i1", Entry: sneaky}); err != nil {
		t.Fatal(err)
	}
	g := simulator.GatewayRecord{GatewayID: "gw-torn", Tenant: "t", Secrets: []string{damageSecret}, InstanceID: "i1"}
	if err := fs.Apply(simulator.Mutation{Kind: simulator.MutGateway, Gateway: &g}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		keep  func(last string) int // bytes of the last record that reached the file
		ids   string
		attrs []string
	}{
		// The gateway record, cut right after its secret.
		{"gateway", func(last string) int { return strings.Index(last, damageSecret) + len(damageSecret) + 2 },
			"b2,b3", []string{"kind=gateway", "gatewayId=gw-torn", "seq=5"}},
		// Everything but the newline.
		{"no newline", func(last string) int { return len(last) - 1 }, "b2,b3", []string{"kind=gateway", "seq=5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := crashImage(t, fs)
			lines := storeLines(t, img)
			last := lines[len(lines)-2] // SplitAfter leaves an empty string last
			keep := len(strings.Join(lines[:len(lines)-2], "")) + tc.keep(last)
			if err := os.Truncate(img, int64(keep)); err != nil {
				t.Fatal(err)
			}
			var logs testkit.Buffer
			fs2, err := simulator.OpenFileStore(img, simulator.FileStoreOptions{Logger: debugLogger(&logs)})
			if err != nil {
				t.Fatal(err)
			}
			defer fs2.Close()
			if got := strings.Join(bufferIDs(t, fs2), ","); got != tc.ids {
				t.Fatalf("buffer %s, want %s", got, tc.ids)
			}
			snap, _ := fs2.Load()
			if len(snap.Gateways) != 0 {
				t.Fatalf("the torn gateway record was loaded: %v", snap.Gateways)
			}
			out := logs.String()
			want := append([]string{"dropped a torn final record", "path=" + img, "line=6",
				fmt.Sprintf("offset=%d", len(strings.Join(lines[:len(lines)-2], ""))),
				fmt.Sprintf("bytes=%d", tc.keep(last))}, tc.attrs...)
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("log lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, damageSecret) {
				t.Errorf("log leaks the secret:\n%s", out)
			}
		})
	}

	// A torn append: the fields come from the record, never its payload.
	img := crashImage(t, fs)
	lines := storeLines(t, img)
	head := len(strings.Join(lines[:4], "")) // header, b1, b2, remove
	os.Truncate(img, int64(head+len(lines[4])-3))
	var logs testkit.Buffer
	fs2, err := simulator.OpenFileStore(img, simulator.FileStoreOptions{Logger: debugLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	fs2.Close()
	out := logs.String()
	if !strings.Contains(out, "kind=append") || !strings.Contains(out, "bufferId=b3") ||
		strings.Contains(out, "from-the-payload") || strings.Contains(out, "fake") || strings.Contains(out, damageSecret) {
		t.Fatalf("torn append logged as:\n%s", out)
	}
}

// A repair keeps the damaged original aside, loads every intact record,
// and writes a fresh log that opens cleanly; an undamaged store opened
// with Repair is left as it is.
func TestFileStoreRepair(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "store")
	writeStore(t, path, 10)
	lines := storeLines(t, path)
	lines[5] = strings.Replace(lines[5], `"b004"`, `"b00X"`, 1) // bad checksum
	lines = append(append(append([]string{}, lines[:8]...), lines[7]), lines[8:]...)
	damaged := []byte(strings.Join(lines, ""))
	os.WriteFile(path, damaged, 0o600)

	var logs testkit.Buffer
	fs, err := simulator.OpenFileStore(path, simulator.FileStoreOptions{Repair: true, Logger: debugLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(bufferIDs(t, fs), ",")
	fs.Close()
	if want := "b001,b002,b003,b005,b006,b007,b008,b009,b010"; got != want {
		t.Fatalf("repaired buffer %s, want %s", got, want)
	}
	aside, _ := filepath.Glob(path + ".damaged-*")
	if len(aside) != 1 {
		t.Fatalf("kept aside: %v", aside)
	}
	if b, _ := os.ReadFile(aside[0]); !bytes.Equal(b, damaged) {
		t.Fatal("the file kept aside is not the damaged original")
	}
	if st, _ := os.Stat(aside[0]); st.Mode().Perm() != 0o600 {
		t.Fatalf("kept aside with mode %v; it holds secrets", st.Mode())
	}
	out := logs.String()
	for _, w := range []string{"line=6", "checksum mismatch", "line=9", "duplicate record", "kept=" + aside[0], "skipped=2"} {
		if !strings.Contains(out, w) {
			t.Errorf("repair log lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, damageSecret) {
		t.Errorf("log leaks the secret:\n%s", out)
	}

	// The fresh log opens without Repair, and Repair on a clean store
	// keeps nothing aside.
	fs, err = simulator.OpenFileStore(path, simulator.FileStoreOptions{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	fs.Close()
	if aside, _ := filepath.Glob(path + ".damaged-*"); len(aside) != 1 {
		t.Fatalf("a clean open kept copies: %v", aside)
	}

	// A file that is not a store at all is not "repaired" into an empty one.
	other := filepath.Join(dir, "notes")
	os.WriteFile(other, []byte("shopping list\n"), 0o600)
	if _, err := simulator.OpenFileStore(other, simulator.FileStoreOptions{Repair: true}); err == nil || !strings.Contains(err.Error(), "not a relaysim store") {
		t.Fatalf("repaired a file that is not a store: %v", err)
	}
}

// An empty file repaired: kept aside, started empty.
func TestFileStoreRepairEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store")
	writeStore(t, path, 3)
	os.Truncate(path, 0)
	fs, err := simulator.OpenFileStore(path, simulator.FileStoreOptions{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if ids := bufferIDs(t, fs); len(ids) != 0 {
		t.Fatal(ids)
	}
	if aside, _ := filepath.Glob(path + ".damaged-*"); len(aside) != 1 {
		t.Fatalf("kept aside: %v", aside)
	}
}

// A store in format 1 (bare JSON lines, as relaykit wrote before records
// had checksums) loads, is rewritten in format 2, and the original is kept
// aside; one with a duplicated append is refused.
func TestFileStoreMigratesFormat1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store")
	v1 := `{"relaysim_store":1}` + "\n" +
		`{"kind":"gateway","gateway":{"gatewayId":"gw1","tenant":"t","secrets":["s"],"deliveryKey":"","instanceId":"i1","platforms":["discord"],"createdAt":"0001-01-01T00:00:00Z"}}` + "\n" +
		`{"kind":"flip","instance":"i1","flipped":true}` + "\n" +
		`{"kind":"append","instance":"i1","entry":{"bufferId":"b1","frameType":"inbound","platform":"discord","payload":{"text":"b1"},"bufferedAt":"0001-01-01T00:00:00Z","deliveries":0}}` + "\n" +
		`{"kind":"append","instance":"i1","entry":{"bufferId":"b2","frameType":"inbound","platform":"discord","payload":{"text":"b2"},"bufferedAt":"0001-01-01T00:00:00Z","deliveries":0}}` + "\n" +
		`{"kind":"remove","instance":"i1","bufferId":"b1"}` + "\n" +
		`{"kind":"append","instance":"i1","entry":{"bufferId":"b3"` // torn
	os.WriteFile(path, []byte(v1), 0o600)
	var logs testkit.Buffer
	fs, err := simulator.OpenFileStore(path, simulator.FileStoreOptions{Logger: debugLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(bufferIDs(t, fs), ","); got != "b2" {
		t.Fatalf("buffer %s", got)
	}
	fs.Close()
	aside, _ := filepath.Glob(path + ".format1-*")
	if len(aside) != 1 {
		t.Fatalf("kept aside: %v", aside)
	}
	if b, _ := os.ReadFile(aside[0]); string(b) != v1 {
		t.Fatal("the format 1 original was not kept as it was")
	}
	if lines := storeLines(t, path); !strings.HasPrefix(lines[0], `0 `) || !strings.Contains(lines[0], `"relaysim_store":2`) {
		t.Fatalf("not rewritten in format 2: %q", lines[0])
	}
	for _, w := range []string{"format 1", "kept=" + aside[0], "dropped a torn final record", "bufferId=b3"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, logs.String())
		}
	}

	dup := filepath.Join(t.TempDir(), "dup")
	lines := strings.SplitAfter(v1, "\n")
	os.WriteFile(dup, []byte(strings.Join(append(lines[:5], lines[4]), "")), 0o600)
	expectRefused(t, dup, 6, `buffer id "b2" is already in the buffer`)
}

// A store written by a newer relaysim is refused as such, not as damage,
// and not repaired.
func TestFileStoreRefusesNewerFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store")
	writeStore(t, path, 1)
	lines := storeLines(t, path)
	// Re-sign the header with format 3.
	lines[0] = "0 " + crcHex(`0 {"relaysim_store":3}`) + ` {"relaysim_store":3}` + "\n"
	os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600)
	for _, repair := range []bool{false, true} {
		_, err := simulator.OpenFileStore(path, simulator.FileStoreOptions{Repair: repair})
		var dmg *simulator.StoreDamageError
		if err == nil || errors.As(err, &dmg) || !strings.Contains(err.Error(), "format 3") {
			t.Fatalf("repair=%v: %v", repair, err)
		}
	}
}

// Apply refuses a change that would not replay, and writes nothing.
func TestFileStoreApplyRefusesDuplicateBufferID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store")
	fs, err := simulator.OpenFileStore(path, simulator.FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Apply(simulator.Mutation{Kind: simulator.MutAppend, Instance: "i1", Entry: bufEntry("b1")}); err != nil {
		t.Fatal(err)
	}
	if err := fs.Apply(simulator.Mutation{Kind: simulator.MutAppend, Instance: "i1", Entry: bufEntry("b1")}); err == nil {
		t.Fatal("a second entry with the same buffer id was accepted")
	}
	if err := fs.Close(); err != nil {
		t.Fatal(err)
	}
	fs, err = simulator.OpenFileStore(path, simulator.FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if got := strings.Join(bufferIDs(t, fs), ","); got != "b1" {
		t.Fatal(got)
	}
}

// A compaction killed before its rename leaves a temporary log; the next
// open removes it and says so.
func TestFileStoreRemovesCompactionDebris(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "store")
	writeStore(t, path, 1)
	debris := filepath.Join(dir, "store.tmp123456789")
	os.WriteFile(debris, []byte("0 half a compaction"), 0o600)
	keep := filepath.Join(dir, "store.tmpfile-of-someone-else")
	os.WriteFile(keep, []byte("x"), 0o600)
	var logs testkit.Buffer
	fs, err := simulator.OpenFileStore(path, simulator.FileStoreOptions{Logger: debugLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	fs.Close()
	if _, err := os.Stat(debris); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("debris left: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("removed a file that is not debris: %v", err)
	}
	if !strings.Contains(logs.String(), "store.tmp123456789") {
		t.Fatalf("log:\n%s", logs.String())
	}
}

func crcHex(s string) string {
	return fmt.Sprintf("%08x", crc32.Checksum([]byte(s), crc32.MakeTable(crc32.Castagnoli)))
}
