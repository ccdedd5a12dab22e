package adapter

import (
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relaykit/relaykit/contract"
)

func TestMetadataStoreLearnsAndStamps(t *testing.T) {
	var s MetadataStore
	if got := s.Stamp("discord", "c1", nil); got != nil {
		t.Fatalf("nothing learned: Stamp = %v, want nil", got)
	}
	s.Learn(contract.SessionSource{Platform: "discord", ChatID: "c1", ScopeID: "g1", UserID: "u1", Profile: "work"})
	got := s.Stamp("discord", "c1", map[string]any{"thread_id": "t9"})
	want := map[string]any{"thread_id": "t9", "scope_id": "g1", "user_id": "u1", "profile": "work"}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("Stamp (-want +got):\n%s", d)
	}

	// A later event without a scope keeps the learned scope; a new user
	// replaces the old one.
	s.Learn(contract.SessionSource{Platform: "discord", ChatID: "c1", UserID: "u2"})
	got = s.Stamp("discord", "c1", nil)
	want = map[string]any{"scope_id": "g1", "user_id": "u2", "profile": "work"}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("after a scope-less event (-want +got):\n%s", d)
	}

	// Keys the caller set win; empty ones are filled.
	in := map[string]any{"scope_id": "mine", "user_id": ""}
	got = s.Stamp("discord", "c1", in)
	want = map[string]any{"scope_id": "mine", "user_id": "u2", "profile": "work"}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("caller keys (-want +got):\n%s", d)
	}
	if in["user_id"] != "" || len(in) != 2 {
		t.Fatal("Stamp modified its argument")
	}

	// Chats are keyed by platform too.
	if got := s.Stamp("telegram", "c1", nil); got != nil {
		t.Fatalf("another platform's chat: %v", got)
	}
	if s.Platform("c1") != "discord" || s.Platform("nope") != "" {
		t.Fatal("Platform")
	}
	s.Learn(contract.SessionSource{Platform: "relay", ChatID: "c2", UserID: "u3"})
	if s.Platform("c2") != "relay" || s.Stamp(s.Platform("c2"), "c2", nil)["user_id"] != "u3" {
		t.Fatal("a chat of the generic relay platform")
	}
	s.Learn(contract.SessionSource{Platform: "discord"}) // no chat: ignored
	if m, ok := s.Lookup("discord", ""); ok {
		t.Fatalf("learned %v for an empty chat", m)
	}
}

func TestMetadataStoreConcurrent(t *testing.T) {
	var s MetadataStore
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 200 {
				s.Learn(contract.SessionSource{Platform: "p", ChatID: "c", UserID: string(rune('a' + i))})
				s.Stamp("p", "c", nil)
			}
		})
	}
	wg.Wait()
}

func TestStampFormatHints(t *testing.T) {
	blocks := contract.CapabilityDescriptor{SupportsBlockFormatting: true}
	plain := contract.CapabilityDescriptor{}
	on := FormatHints{RichBlocks: true, MarkdownBlocks: true}

	if got := stampFormatHints(nil, on, plain); got != nil {
		t.Fatalf("without supports_block_formatting: %v", got)
	}
	if got := stampFormatHints(nil, FormatHints{}, blocks); got != nil {
		t.Fatalf("hints disabled: %v", got)
	}
	got := stampFormatHints(map[string]any{"a": 1}, on, blocks)
	want := map[string]any{"a": 1, "format_hints": map[string]any{"rich_blocks": true, "markdown_blocks": true}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	got = stampFormatHints(map[string]any{"format_hints": "keep"}, on, blocks)
	if got["format_hints"] != "keep" {
		t.Fatal("an explicit format_hints is kept")
	}
	got = stampFormatHints(nil, FormatHints{MarkdownBlocks: true}, blocks)
	if d := cmp.Diff(map[string]any{"format_hints": map[string]any{"markdown_blocks": true}}, got); d != "" {
		t.Fatal(d)
	}
}
