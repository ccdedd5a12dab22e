package adapter

import (
	"maps"
	"sync"

	"github.com/relaykit/relaykit/contract"
)

// Metadata keys the adapter stamps on outbound actions.
const (
	MetaScopeID     = "scope_id"
	MetaUserID      = "user_id"
	MetaProfile     = "profile"
	MetaFormatHints = "format_hints"
)

// ChatMeta is what the adapter learned about one chat from its inbound
// events: the tenant discriminators the connector's egress guard needs on
// every outbound action for that chat.
type ChatMeta struct {
	ScopeID string
	UserID  string
	Profile string
}

type chatKey struct{ platform, chat string }

// MetadataStore remembers, per (platform, chat_id), the scope_id, user_id
// and profile of the chat's inbound events, and stamps them on outbound
// metadata. It is safe for concurrent use; the zero value is ready.
//
// A value learned once is kept until a later event of the chat carries a
// different non-empty value: an event without a scope (a DM reply, a button
// press) does not erase what an earlier one taught. This is the reference
// gateway's rule. The store is not bounded, like the reference's.
type MetadataStore struct {
	mu       sync.Mutex
	chats    map[chatKey]ChatMeta
	platform map[string]string // chat_id -> platform of its last event
}

// Learn records the discriminators of src for its chat. A source without a
// chat_id teaches nothing.
func (s *MetadataStore) Learn(src contract.SessionSource) {
	if src.ChatID == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chats == nil {
		s.chats = map[chatKey]ChatMeta{}
		s.platform = map[string]string{}
	}
	k := chatKey{src.Platform, src.ChatID}
	m := s.chats[k]
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&m.ScopeID, src.ScopeID)
	set(&m.UserID, src.UserID)
	set(&m.Profile, src.Profile)
	s.chats[k] = m
	if src.Platform != "" {
		s.platform[src.ChatID] = src.Platform
	}
}

// Lookup returns what the store learned for a chat.
func (s *MetadataStore) Lookup(platform, chatID string) (ChatMeta, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.chats[chatKey{platform, chatID}]
	return m, ok
}

// Platform returns the platform of the chat's last inbound event ("relay"
// when the connector named none), or "" when the store has seen none.
func (s *MetadataStore) Platform(chatID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.platform[chatID]
}

// Stamp returns a copy of md with scope_id, user_id and profile set from
// what the store learned for the chat, for each key md does not already
// carry with a non-empty value. md itself is never modified. The result is
// nil only when md is empty and nothing was learned.
func (s *MetadataStore) Stamp(platform, chatID string, md map[string]any) map[string]any {
	m, _ := s.Lookup(platform, chatID)
	out := maps.Clone(md)
	put := func(key, v string) {
		if v == "" {
			return
		}
		if cur, ok := out[key]; ok && cur != nil && cur != "" {
			return
		}
		if out == nil {
			out = map[string]any{}
		}
		out[key] = v
	}
	put(MetaScopeID, m.ScopeID)
	put(MetaUserID, m.UserID)
	put(MetaProfile, m.Profile)
	return out
}

// FormatHints asks the connector to render a text action's markdown as
// platform blocks. It reaches the wire only for a platform whose
// descriptor has supports_block_formatting.
type FormatHints struct {
	RichBlocks     bool // "rich_blocks": rich layout blocks (Slack Block Kit)
	MarkdownBlocks bool // "markdown_blocks": markdown rendered as blocks
}

func (h FormatHints) value() map[string]any {
	v := map[string]any{}
	if h.RichBlocks {
		v["rich_blocks"] = true
	}
	if h.MarkdownBlocks {
		v["markdown_blocks"] = true
	}
	if len(v) == 0 {
		return nil
	}
	return v
}

// stampFormatHints returns md with format_hints added when the hints are
// enabled, the descriptor advertises supports_block_formatting and md has
// none yet. It may return md itself.
func stampFormatHints(md map[string]any, h FormatHints, d contract.CapabilityDescriptor) map[string]any {
	v := h.value()
	if v == nil || !d.SupportsBlockFormatting {
		return md
	}
	if _, ok := md[MetaFormatHints]; ok {
		return md
	}
	out := maps.Clone(md)
	if out == nil {
		out = map[string]any{}
	}
	out[MetaFormatHints] = v
	return out
}
