package harbor

import "unicode/utf8"

// Platform names harbor fronts. Neither is a fixtures preset.
const (
	PlatformSMS  = "harbor-sms"
	PlatformMail = "harbor-mail"
)

// platforms are served in this order (GET /health, default enrollment).
var platforms = []string{PlatformSMS, PlatformMail}

// platformInfo is what harbor knows about one of its platforms.
type platformInfo struct {
	descriptor map[string]any
	ops        map[string]bool
	maxLen     int
	utf16      bool
	// anyChat: the platform accepts sends to a chat it has never seen (an
	// SMS can go to any number); otherwise unseen chats are not_found.
	anyChat bool
}

var platformTable = map[string]*platformInfo{
	PlatformSMS: newPlatform(PlatformSMS, map[string]any{
		"label": "Harbor SMS", "max_message_length": 1600, "len_unit": "utf16",
		"markdown_dialect": "plain", "supports_edit": false, "supports_threads": false,
		"supports_draft_streaming": false, "emoji": "📟", "platform_hint": "text messages; no formatting",
		"pii_safe": true,
	}, []string{"send", "typing", "follow_up", "react", "delete", "get_chat_info", "prompt"}, true),
	PlatformMail: newPlatform(PlatformMail, map[string]any{
		"label": "Harbor Mail", "max_message_length": 20000, "len_unit": "chars",
		"markdown_dialect": "markdown", "supports_edit": true, "supports_threads": true,
		"supports_draft_streaming": true, "supports_context": true,
	}, []string{"send", "edit", "typing", "follow_up", "thread_create", "get_chat_info", "draft", "delete"}, false),
}

func newPlatform(name string, d map[string]any, ops []string, anyChat bool) *platformInfo {
	d["contract_version"] = 1
	d["platform"] = name
	d["supported_ops"] = ops
	p := &platformInfo{descriptor: d, ops: map[string]bool{}, anyChat: anyChat}
	for _, op := range ops {
		p.ops[op] = true
	}
	p.maxLen = d["max_message_length"].(int)
	p.utf16 = d["len_unit"] == "utf16"
	return p
}

// served reports whether harbor serves platform p at all.
func served(p string) bool { _, ok := platformTable[p]; return ok }

// length counts s in the platform's len_unit.
func (p *platformInfo) length(s string) int {
	if !p.utf16 {
		return utf8.RuneCountInString(s)
	}
	n := 0
	for _, r := range s {
		if r > 0xFFFF {
			n += 2
		} else {
			n++
		}
	}
	return n
}
