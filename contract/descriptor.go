package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// CapabilityDescriptor tells the gateway what one platform of the connector
// can do. The connector sends one per hello, inside a [DescriptorFrame].
type CapabilityDescriptor struct {
	// Required fields.
	ContractVersion        int    `json:"contract_version"`
	Platform               string `json:"platform"`
	Label                  string `json:"label"`
	MaxMessageLength       int    `json:"max_message_length"`
	SupportsDraftStreaming bool   `json:"supports_draft_streaming"`
	SupportsEdit           bool   `json:"supports_edit"`
	SupportsThreads        bool   `json:"supports_threads"`
	MarkdownDialect        string `json:"markdown_dialect"`
	LenUnit                string `json:"len_unit"`

	// Optional fields; DecodeDescriptor fills in their defaults.
	Emoji                        string   `json:"emoji"`
	PlatformHint                 string   `json:"platform_hint"`
	PIISafe                      bool     `json:"pii_safe"`
	SupportsContext              bool     `json:"supports_context"`
	SupportsInchannelContinuable bool     `json:"supports_inchannel_continuable"`
	SupportsBlockFormatting      bool     `json:"supports_block_formatting"`
	SupportedOps                 []string `json:"supported_ops"`
}

// Length units a descriptor may advertise.
const (
	LenUnitChars = "chars" // Unicode code points
	LenUnitUTF16 = "utf16" // UTF-16 code units; astral characters count 2
)

// DefaultEmoji is the descriptor emoji when the connector sends none.
const DefaultEmoji = "\U0001F50C"

// RequiredDescriptorFields lists the descriptor keys a connector must send,
// in canonical order.
var RequiredDescriptorFields = []string{
	"contract_version", "platform", "label", "max_message_length",
	"supports_draft_streaming", "supports_edit", "supports_threads",
	"markdown_dialect", "len_unit",
}

// OptionalDescriptorFields lists the descriptor keys that have defaults, in
// canonical order.
var OptionalDescriptorFields = []string{
	"emoji", "platform_hint", "pii_safe", "supports_context",
	"supports_inchannel_continuable", "supports_block_formatting", "supported_ops",
}

// PlaceholderDescriptor is the descriptor a gateway assumes for platform
// before the connector has answered its hello.
func PlaceholderDescriptor(platform string) CapabilityDescriptor {
	return CapabilityDescriptor{
		ContractVersion:  Version,
		Platform:         platform,
		Label:            "Relay",
		MaxMessageLength: DefaultMaxMessageLength,
		SupportsEdit:     true,
		MarkdownDialect:  "plain",
		LenUnit:          LenUnitChars,
		Emoji:            DefaultEmoji,
	}
}

// MessageLimit returns the effective message length limit: the advertised
// value, or DefaultMaxMessageLength when it is zero or negative.
func (d CapabilityDescriptor) MessageLimit() int {
	if d.MaxMessageLength <= 0 {
		return DefaultMaxMessageLength
	}
	return d.MaxMessageLength
}

// Ops returns the ops the descriptor allows: supported_ops, or LegacyOps when
// that list is empty.
func (d CapabilityDescriptor) Ops() []string {
	if len(d.SupportedOps) == 0 {
		return LegacyOps
	}
	return d.SupportedOps
}

// SupportsOp reports whether op may be sent to this platform. An empty
// supported_ops means the legacy set, so any newer op must be advertised.
func (d CapabilityDescriptor) SupportsOp(op string) bool {
	for _, o := range d.Ops() {
		if o == op {
			return true
		}
	}
	return false
}

// MarshalJSON writes every field in canonical order.
func (d CapabilityDescriptor) MarshalJSON() ([]byte, error) {
	return d.appendJSON(nil)
}

func (d CapabilityDescriptor) appendJSON(dst []byte) ([]byte, error) {
	w := newObject(dst)
	w.key("contract_version")
	w.buf = strconv.AppendInt(w.buf, int64(d.ContractVersion), 10)
	w.str("platform", d.Platform)
	w.str("label", d.Label)
	w.key("max_message_length")
	w.buf = strconv.AppendInt(w.buf, int64(d.MaxMessageLength), 10)
	w.boolean("supports_draft_streaming", d.SupportsDraftStreaming)
	w.boolean("supports_edit", d.SupportsEdit)
	w.boolean("supports_threads", d.SupportsThreads)
	w.str("markdown_dialect", d.MarkdownDialect)
	w.str("len_unit", d.LenUnit)
	w.str("emoji", d.Emoji)
	w.str("platform_hint", d.PlatformHint)
	w.boolean("pii_safe", d.PIISafe)
	w.boolean("supports_context", d.SupportsContext)
	w.boolean("supports_inchannel_continuable", d.SupportsInchannelContinuable)
	w.boolean("supports_block_formatting", d.SupportsBlockFormatting)
	ops := d.SupportedOps
	if ops == nil {
		ops = []string{}
	}
	w.value("supported_ops", ops)
	return w.close()
}

// UnmarshalJSON decodes like DecodeDescriptor.
func (d *CapabilityDescriptor) UnmarshalJSON(b []byte) error {
	v, err := DecodeDescriptor(b)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// DecodeDescriptor decodes a descriptor object. Unknown keys are ignored and
// absent optional keys take their defaults (HS-011). A missing required key
// or a value of the wrong JSON type is an error naming the field; the
// reference gateway crashes its reader on the former, we report it.
// max_message_length is accepted as a number or a numeric string, and values
// that are not positive integers become DefaultMaxMessageLength.
// supported_ops keeps only non-empty strings.
func DecodeDescriptor(raw []byte) (CapabilityDescriptor, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return CapabilityDescriptor{}, fmt.Errorf("descriptor: not a JSON object")
	}
	for _, k := range RequiredDescriptorFields {
		if _, ok := m[k]; !ok {
			return CapabilityDescriptor{}, fmt.Errorf("descriptor.%s: required field missing", k)
		}
	}
	d := CapabilityDescriptor{Emoji: DefaultEmoji}
	var err error
	get := func(k string, dst any) {
		v, ok := m[k]
		if !ok || err != nil || bytes.Equal(v, []byte("null")) {
			return
		}
		if e := json.Unmarshal(v, dst); e != nil {
			err = fmt.Errorf("descriptor.%s: wrong type: %s", k, jsonKind(v))
		}
	}
	get("contract_version", &d.ContractVersion)
	get("platform", &d.Platform)
	get("label", &d.Label)
	get("supports_draft_streaming", &d.SupportsDraftStreaming)
	get("supports_edit", &d.SupportsEdit)
	get("supports_threads", &d.SupportsThreads)
	get("markdown_dialect", &d.MarkdownDialect)
	get("len_unit", &d.LenUnit)
	get("emoji", &d.Emoji)
	get("platform_hint", &d.PlatformHint)
	get("pii_safe", &d.PIISafe)
	get("supports_context", &d.SupportsContext)
	get("supports_inchannel_continuable", &d.SupportsInchannelContinuable)
	get("supports_block_formatting", &d.SupportsBlockFormatting)
	if err != nil {
		return CapabilityDescriptor{}, err
	}
	d.MaxMessageLength = lenientLimit(m["max_message_length"])
	if v, ok := m["supported_ops"]; ok {
		var list []json.RawMessage
		if json.Unmarshal(v, &list) == nil {
			for _, item := range list {
				var s string
				if json.Unmarshal(item, &s) == nil && s != "" {
					d.SupportedOps = append(d.SupportedOps, s)
				}
			}
		}
	}
	return d, nil
}

func lenientLimit(v json.RawMessage) int {
	var n json.Number
	if json.Unmarshal(v, &n) != nil {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return DefaultMaxMessageLength
		}
		n = json.Number(s)
	}
	i, err := n.Int64()
	if err != nil || i <= 0 || i > 1<<31-1 {
		return DefaultMaxMessageLength
	}
	return int(i)
}

// jsonKind names the JSON type of a raw value for error messages.
func jsonKind(v json.RawMessage) string {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}
