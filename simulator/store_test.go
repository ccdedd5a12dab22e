package simulator_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

func sampleMutations() []simulator.Mutation {
	g := simulator.GatewayRecord{GatewayID: "gw1", Tenant: "t", Secrets: []string{"s"}, InstanceID: "i1", Platforms: []string{"discord"}}
	pol := contract.PolicyRequest{Platform: "discord", RequireAddress: true, FreeResponseScopes: []string{}}
	entry := func(id string) *simulator.BufferedEntry {
		return &simulator.BufferedEntry{BufferID: id, FrameType: "inbound", Platform: "discord", Payload: json.RawMessage(`{"text":"` + id + `"}`)}
	}
	return []simulator.Mutation{
		{Kind: simulator.MutGateway, Gateway: &g},
		{Kind: simulator.MutFlip, Instance: "i1", Flipped: true},
		{Kind: simulator.MutPolicy, Instance: "i1", Policy: &pol},
		{Kind: simulator.MutAppend, Instance: "i1", Entry: entry("b1")},
		{Kind: simulator.MutAppend, Instance: "i1", Entry: entry("b2")},
		{Kind: simulator.MutAppend, Instance: "i1", Entry: entry("b3")},
		{Kind: simulator.MutRemove, Instance: "i1", BufferID: "b2"},
		{Kind: simulator.MutToken, Token: &simulator.EnrollmentTokenRecord{Hash: "h", Tenant: "t"}},
	}
}

func checkSample(t *testing.T, snap simulator.Snapshot) {
	t.Helper()
	if len(snap.Gateways) != 1 || snap.Gateways[0].Secrets[0] != "s" || len(snap.EnrollmentTokens) != 1 {
		t.Fatalf("snapshot %+v", snap)
	}
	in := snap.Instances[0]
	var ids []string
	for _, e := range in.Buffer {
		ids = append(ids, e.BufferID)
	}
	if !in.Flipped || !in.Policies["discord"].RequireAddress || strings.Join(ids, ",") != "b1,b3" {
		t.Fatalf("instance %+v", in)
	}
}

func TestFileStoreReplayAndCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store")
	fs, err := simulator.OpenFileStore(path, simulator.FileStoreOptions{Fsync: simulator.FsyncAlways})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sampleMutations() {
		if err := fs.Apply(m); err != nil {
			t.Fatal(err)
		}
	}
	snap, _ := fs.Load()
	checkSample(t, snap)
	if err := fs.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fs.Apply(sampleMutations()[1]); err == nil {
		t.Fatal("Apply after Close succeeded")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v: the file holds secrets", st.Mode())
	}

	// A torn last line (a crash mid-write) is dropped.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"kind":"remove","instance":"i1","buf`)
	f.Close()
	fs, err = simulator.OpenFileStore(path, simulator.FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snap, _ = fs.Load()
	checkSample(t, snap)
	fs.Close()

	// Reopening compacted the log: one line per live record.
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n"); n != 1+6 {
		t.Fatalf("%d lines after compaction:\n%s", n, b)
	}
}

func TestFileStoreRefusesGarbage(t *testing.T) {
	dir := t.TempDir()
	notStore := filepath.Join(dir, "x")
	os.WriteFile(notStore, []byte("hello\n"), 0o600)
	if _, err := simulator.OpenFileStore(notStore, simulator.FileStoreOptions{}); err == nil {
		t.Fatal("opened a file that is not a store")
	}
	bad := filepath.Join(dir, "y")
	os.WriteFile(bad, []byte(`{"relaysim_store":1}`+"\n{oops}\n"), 0o600)
	if _, err := simulator.OpenFileStore(bad, simulator.FileStoreOptions{}); err == nil {
		t.Fatal("opened a store with a corrupt line")
	}
	if _, err := simulator.OpenFileStore(filepath.Join(dir, "z"), simulator.FileStoreOptions{Fsync: "sometimes"}); err == nil {
		t.Fatal("bad fsync mode accepted")
	}
}

func TestFileStoreCompactsWhileRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store")
	fs, err := simulator.OpenFileStore(path, simulator.FileStoreOptions{Fsync: simulator.FsyncNever})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	for i := 0; i < 30000; i++ {
		id := fmt.Sprint(i)
		fs.Apply(simulator.Mutation{Kind: simulator.MutAppend, Instance: "i", Entry: &simulator.BufferedEntry{BufferID: id, Payload: json.RawMessage(`{}`)}})
		fs.Apply(simulator.Mutation{Kind: simulator.MutRemove, Instance: "i", BufferID: id})
	}
	if err := fs.Flush(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n"); n > 25000 {
		t.Fatalf("log never compacted: %d lines", n)
	}
}

func TestMemoryStoreSurvivesServerRestart(t *testing.T) {
	store := simulator.NewMemoryStore()
	s, err := simulator.New(simulator.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	g := enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	inject(t, s, "gw1", event("discord", "c", "kept"))
	s.Close()

	s2 := start(t, simulator.Options{Store: store})
	gw := dialWith(t, s2, dialOpts{token: contract.MintTokenTTL("gw1", g.Secret, time.Now(), time.Minute)})
	gw.hello("discord")
	if got := eventText(t, gw.expect(contract.TypeInbound)); got != "kept" {
		t.Fatal(got)
	}
}

func TestGatewayRecordRedacts(t *testing.T) {
	r := simulator.GatewayRecord{GatewayID: "gw", Secrets: []string{"topsecret"}, DeliveryKey: "dk-secret"}
	for _, s := range []string{r.String(), fmt.Sprint(r), fmt.Sprintf("%v", r)} {
		if strings.Contains(s, "topsecret") || strings.Contains(s, "dk-secret") {
			t.Fatalf("leaks: %s", s)
		}
	}
}
