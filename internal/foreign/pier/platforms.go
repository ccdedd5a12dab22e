package pier

import (
	"bytes"
	"encoding/json"
)

// Platforms pier fronts, in the order /health lists them.
const (
	// PlatformPier is pier's own chat: threads, reactions, deletion and
	// chat info, 1500 UTF-16 units per message.
	PlatformPier = "pier"
	// PlatformOps is pier's operations channel: plain text of at most 640
	// code points, no edit, and no supported_ops at all, so it advertises
	// the legacy set (send, edit, typing, follow_up). pier still performs
	// an edit there, by re-posting: the result names the new message.
	PlatformOps = "pier-ops"
)

// Platforms lists the platforms pier fronts.
var Platforms = []string{PlatformPier, PlatformOps}

// platformSpec is what pier knows about one of its platforms.
type platformSpec struct {
	descriptor map[string]any
	ops        map[string]bool // the ops the descriptor advertises
	maxLen     int
	utf16      bool
	editRepost bool // edit re-posts the message under a new id
}

// legacyOps is the set an absent supported_ops advertises.
var legacyOps = []string{"send", "edit", "typing", "follow_up"}

var pierOps = []string{"send", "edit", "typing", "follow_up", "get_chat_info", "delete", "react", "thread_create", "thread_rename"}

var platformSpecs = map[string]*platformSpec{
	PlatformPier: {
		descriptor: map[string]any{
			"contract_version":         1,
			"platform":                 PlatformPier,
			"label":                    "Pier",
			"max_message_length":       1500,
			"supports_draft_streaming": false,
			"supports_edit":            true,
			"supports_threads":         true,
			"markdown_dialect":         "commonmark",
			"len_unit":                 "utf16",
			"emoji":                    "⚓",
			"platform_hint":            "You are talking on Pier. Threads and reactions work; keep messages under 1500 UTF-16 units.",
			"supports_context":         false,
			"supported_ops":            pierOps,
			// A field no contract version defines: gateways ignore it (HS-011).
			"pier_build": "pier/1 (relaykit foreign double)",
		},
		maxLen: 1500, utf16: true,
	},
	PlatformOps: {
		descriptor: map[string]any{
			"contract_version":         1,
			"platform":                 PlatformOps,
			"label":                    "Pier Ops",
			"max_message_length":       640,
			"supports_draft_streaming": false,
			"supports_edit":            false,
			"supports_threads":         false,
			"markdown_dialect":         "plain",
			"len_unit":                 "chars",
			"pii_safe":                 true,
		},
		maxLen: 640, editRepost: true,
	},
}

func init() {
	for _, p := range platformSpecs {
		p.ops = map[string]bool{}
		list, _ := p.descriptor["supported_ops"].([]string)
		if len(list) == 0 {
			list = legacyOps
		}
		for _, op := range list {
			p.ops[op] = true
		}
	}
}

// descriptorFrame encodes the descriptor frame answering a hello for
// platform, as named (the deviation renames pier-ops).
func descriptorFrame(platform, named string) []byte {
	d := map[string]any{}
	for k, v := range platformSpecs[platform].descriptor {
		d[k] = v
	}
	d["platform"] = named
	return frame(map[string]any{"type": "descriptor", "descriptor": d})
}

// frame encodes v as one frame: JSON followed by exactly one newline.
// pier writes non-ASCII as UTF-8 and leaves <, > and & unescaped. Every
// value pier encodes is built from JSON it decoded or from its own strings,
// so encoding cannot fail; if it ever did, the gateway gets an error frame
// (a type it ignores, TRN-004) rather than a panic.
func frame(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(`{"type":"error","code":"internal","message":"pier could not encode a frame"}` + "\n")
	}
	return b.Bytes()
}
