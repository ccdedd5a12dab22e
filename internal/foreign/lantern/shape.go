package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// descriptor is what lantern keeps of a capability descriptor.
type descriptor struct {
	platform       string
	maxLen         int    // 4096 when the descriptor's value is zero or less, or not an integer
	lenUnit        string // "utf16" or "chars" (any other value counts code points)
	draftStreaming bool
	edit           bool
	dialect        string
	ops            map[string]bool // nil: the legacy set
}

// legacyOps is what an empty or absent supported_ops means (HS-012).
var legacyOps = map[string]bool{"send": true, "edit": true, "typing": true, "follow_up": true}

// placeholder is the descriptor assumed before the first one arrives.
func placeholder(platform string) descriptor {
	return descriptor{platform: platform, maxLen: 4096, lenUnit: "chars", edit: true, dialect: "plain"}
}

// parseDescriptor reads a descriptor object. A missing required field or
// one of the wrong JSON type is an error (HS-021); unknown fields are
// ignored and absent optional ones take their defaults (HS-011), and any
// contract_version of 1 or more is accepted (HS-020).
func parseDescriptor(raw json.RawMessage) (descriptor, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return descriptor{}, fmt.Errorf("descriptor is not an object")
	}
	var d descriptor
	str := func(k string, dst *string) error {
		v, ok := m[k]
		if !ok {
			return fmt.Errorf("descriptor.%s is missing", k)
		}
		if json.Unmarshal(v, dst) != nil || string(v) == "null" {
			return fmt.Errorf("descriptor.%s is not a string", k)
		}
		return nil
	}
	boolean := func(k string, dst *bool) error {
		v, ok := m[k]
		if !ok {
			return fmt.Errorf("descriptor.%s is missing", k)
		}
		if json.Unmarshal(v, dst) != nil || string(v) == "null" {
			return fmt.Errorf("descriptor.%s is not a boolean", k)
		}
		return nil
	}
	number := func(k string) (float64, error) {
		v, ok := m[k]
		var f float64
		if !ok {
			return 0, fmt.Errorf("descriptor.%s is missing", k)
		}
		if json.Unmarshal(v, &f) != nil || string(v) == "null" {
			return 0, fmt.Errorf("descriptor.%s is not a number", k)
		}
		return f, nil
	}
	var label string
	cv, err := number("contract_version")
	if err == nil && cv != math.Trunc(cv) {
		err = fmt.Errorf("descriptor.contract_version is not an integer")
	}
	for _, e := range []error{
		err,
		str("platform", &d.platform),
		str("label", &label),
		boolean("supports_draft_streaming", &d.draftStreaming),
		boolean("supports_edit", &d.edit),
		boolean("supports_threads", new(bool)),
		str("markdown_dialect", &d.dialect),
		str("len_unit", &d.lenUnit),
	} {
		if e != nil {
			return descriptor{}, e
		}
	}
	ml, err := number("max_message_length")
	if err != nil {
		return descriptor{}, err
	}
	d.maxLen = 4096
	if ml > 0 && ml == math.Trunc(ml) && ml < math.MaxInt32 {
		d.maxLen = int(ml)
	}
	if d.lenUnit != "utf16" {
		d.lenUnit = "chars"
	}
	var list []any
	if v, ok := m["supported_ops"]; ok && json.Unmarshal(v, &list) == nil {
		for _, e := range list {
			if s, ok := e.(string); ok && s != "" {
				if d.ops == nil {
					d.ops = map[string]bool{}
				}
				d.ops[s] = true
			}
		}
	}
	return d, nil
}

// supports says whether an op may be sent toward d (HS-012, HS-022,
// HS-024): listed (or in the legacy set), draft only with
// supports_draft_streaming, edit only with supports_edit.
func (d descriptor) supports(op string) bool {
	set := d.ops
	if set == nil {
		set = legacyOps
	}
	switch {
	case !set[op]:
		return false
	case op == "draft":
		return d.draftStreaming
	case op == "edit":
		return d.edit
	}
	return true
}

// codeBlocks says whether the dialect renders ``` fences.
func (d descriptor) codeBlocks() bool { return d.dialect != "" && d.dialect != "plain" }

// measure is the length of s in unit: UTF-16 code units for utf16,
// code points otherwise.
func measure(s, unit string) int {
	if unit != "utf16" {
		return utf8.RuneCountInString(s)
	}
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

func runeUnits(r rune, unit string) int {
	if unit == "utf16" && r >= 0x10000 {
		return 2
	}
	return 1
}

// fenceClose is the room a part cut inside a ``` block reserves for its
// closing fence.
const fenceClose = "\n```"

// splitText cuts text into parts of at most limit units, preferring to
// cut after a line break, then after a run of spaces (word boundaries),
// and never inside a character or before a combining mark, ZWJ or
// variation selector while another cut fits. Parts concatenate back to the
// text exactly, whitespace included, unless fences is set and a cut falls
// inside a ``` block: then the part gets a closing fence and the next part
// reopens the block with its opening line, the room for the closing fence
// being reserved in every part (unless unbudgeted, the deviation
// fence-reopen-unbudgeted).
func splitText(text string, limit int, unit string, fences, unbudgeted bool) []string {
	if limit <= 0 {
		limit = 4096
	}
	if measure(text, unit) <= limit {
		return []string{text}
	}
	// Below 16 units the fences would crowd out the text.
	fences = fences && limit >= 16
	var parts []string
	rest := text
	open := "" // the opening line of the block the text is inside
	for rest != "" {
		if measure(rest, unit) <= limit {
			parts = append(parts, rest)
			break
		}
		budget := limit
		if fences && !unbudgeted {
			budget -= len(fenceClose)
		}
		cut := cutPoint(rest, budget, unit)
		part := rest[:cut]
		rest = rest[cut:]
		if fences {
			open = fenceState(part, open)
			if open != "" && rest != "" {
				if strings.HasSuffix(part, "\n") {
					part += "```"
				} else {
					part += fenceClose
				}
				reopen := open
				if measure(reopen, unit) > limit/4 {
					reopen = "```\n" // a long language tag would crowd out the code
				}
				rest = reopen + rest
				open = ""
			}
		}
		parts = append(parts, part)
	}
	return parts
}

// cutPoint returns the byte index at which to end a part of s of at most
// budget units (at least one character).
func cutPoint(s string, budget int, unit string) int {
	end, used := 0, 0
	lastNL, lastSpace := -1, -1
	for i, r := range s {
		w := runeUnits(r, unit)
		if used+w > budget {
			break
		}
		used += w
		end = i + utf8.RuneLen(r)
		switch {
		case r == '\n':
			lastNL = end
		case r == ' ' || r == '\t':
			lastSpace = end
		}
	}
	if end == 0 { // budget smaller than the first character: take it whole
		_, n := utf8.DecodeRuneInString(s)
		return n
	}
	if end >= len(s) {
		return end
	}
	// A line break that leaves the part at least a third full, else a
	// space that leaves it a quarter full.
	if lastNL > 0 && measure(s[:lastNL], unit)*3 >= budget {
		return lastNL
	}
	if lastSpace > 0 && measure(s[:lastSpace], unit)*4 >= budget {
		return lastSpace
	}
	// Step back over characters that attach to the one before them.
	for c := end; c > 0; {
		r, _ := utf8.DecodeRuneInString(s[c:])
		if !attaches(r) {
			return c
		}
		_, n := utf8.DecodeLastRuneInString(s[:c])
		c -= n
	}
	return end
}

// attaches reports a character that must not start a part.
func attaches(r rune) bool {
	return unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || r == 0x200D ||
		(r >= 0xFE00 && r <= 0xFE0F) || (r >= 0x1F3FB && r <= 0x1F3FF)
}

// fenceState returns the opening line (newline included) of the ``` block
// the text ends inside, "" when it ends outside one, given the block it
// started inside.
func fenceState(s, open string) string {
	for _, line := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") && strings.HasSuffix(line, "\n") {
			if open == "" {
				open = strings.TrimLeft(line, " \t")
			} else {
				open = ""
			}
		}
	}
	return open
}
