package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/fixtures"
)

// maxFileProblems caps the problems one file reports at once.
const maxFileProblems = 10

// LoadDescriptorFile reads a capability descriptor from a JSON file, so a
// test can serve a platform with any limits and flags (Options.Descriptors,
// relaysim --descriptor FILE). The file holds the descriptor object itself,
// as inside a descriptor frame:
//
//	{"contract_version": 1, "platform": "tiny", "label": "Tiny",
//	 "max_message_length": 50, "len_unit": "utf16", ...}
//
// It is checked as ParseDescriptor describes. Every error is a *FileError,
// or several joined, naming the file and the field.
func LoadDescriptorFile(path string) (contract.CapabilityDescriptor, error) {
	b, err := readConfigFile(path)
	if err != nil {
		return contract.CapabilityDescriptor{}, err
	}
	return ParseDescriptor(path, b)
}

// ParseDescriptor checks a descriptor written as JSON and decodes it; name
// labels its errors. It must pass the contract's descriptor checks
// (contract.ValidateFrame: HS-006 to HS-011, HS-023) and the JSON Schema
// fixtures/schemas/capability_descriptor.json, and beyond them:
//
//   - no member the contract does not define: a descriptor is served
//     through contract.CapabilityDescriptor, which would drop it silently,
//     so a misspelt optional field ("suported_ops") is refused instead of
//     served as its default;
//   - max_message_length from 1 to 2^31-1: 0 or less means 4096 on the
//     wire (HS-009), and relaysim serves the limit it decoded, so write
//     4096 when that is what you mean;
//   - a platform name of at most 64 bytes without commas, spaces or
//     control characters, since it travels in GATEWAY_RELAY_PLATFORMS.
//
// Each error is a *FileError; several are joined (at most ten).
func ParseDescriptor(name string, data []byte) (contract.CapabilityDescriptor, error) {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return contract.CapabilityDescriptor{}, jsonSyntaxError(name, data, err)
	}
	if _, err := dec.Token(); err == nil {
		return contract.CapabilityDescriptor{}, &FileError{File: name, Message: "holds more than one JSON value; a descriptor file holds one object"}
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return contract.CapabilityDescriptor{}, &FileError{File: name, Message: "must be a JSON object, the capability descriptor itself (as inside a descriptor frame)"}
	}

	var probs []error
	add := func(field, format string, args ...any) {
		if len(probs) < maxFileProblems {
			probs = append(probs, &FileError{File: name, Field: field, Message: fmt.Sprintf(format, args...)})
		}
	}
	known := append(slices.Clone(contract.RequiredDescriptorFields), contract.OptionalDescriptorFields...)
	for _, k := range sortedKeys(obj) {
		if !slices.Contains(known, k) {
			if near := nearestName(known, k); near != "" {
				add(k, "unknown field (did you mean %q?)", near)
			} else {
				add(k, "unknown field; a descriptor has %s", strings.Join(known, ", "))
			}
		}
	}
	var compact bytes.Buffer
	json.Compact(&compact, data) // valid: it decoded above
	frame := contract.AppendDescriptor(nil, compact.Bytes())
	for _, v := range contract.ValidateFrame(frame) {
		add(strings.TrimPrefix(strings.TrimPrefix(v.Field, "descriptor"), "."), "%s (%s)", v.Message, v.Requirement)
	}
	if len(probs) == 0 {
		for _, p := range schemaProblems(obj) {
			add(p[0], "%s (fixtures/schemas/capability_descriptor.json)", p[1])
		}
	}
	if n, ok := obj["max_message_length"].(json.Number); ok {
		if i, err := n.Int64(); err == nil && (i <= 0 || i > 1<<31-1) {
			add("max_message_length", "must be from 1 to %d, got %d: the wire reads 0 or less as %d (HS-009); write %d when you mean it",
				1<<31-1, i, contract.DefaultMaxMessageLength, contract.DefaultMaxMessageLength)
		}
	}
	if p, ok := obj["platform"].(string); ok {
		if msg := checkPlatformName(p); msg != "" {
			add("platform", "%s", msg)
		}
	}
	if len(probs) > 0 {
		return contract.CapabilityDescriptor{}, errors.Join(probs...)
	}
	d, err := contract.DecodeDescriptor(data)
	if err != nil {
		// ValidateFrame passed, so this is a disagreement inside contract.
		return contract.CapabilityDescriptor{}, &FileError{File: name, Message: err.Error()}
	}
	return d, nil
}

// checkPlatformName says what is wrong with a platform name served from a
// file, or "".
func checkPlatformName(p string) string {
	switch {
	case p == "":
		return "must not be empty"
	case len(p) > 64:
		return fmt.Sprintf("%d bytes, over 64", len(p))
	case strings.IndexFunc(p, func(r rune) bool { return r == ',' || unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Sprintf("%q has a comma, space or control character; it must fit in GATEWAY_RELAY_PLATFORMS", p)
	}
	return ""
}

// descriptorSchema is fixtures/schemas/capability_descriptor.json,
// compiled once.
var descriptorSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	const name = "capability_descriptor"
	raw, err := fixtures.Schema(name)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(fixtures.SchemaURL(name), doc); err != nil {
		return nil, err
	}
	return c.Compile(fixtures.SchemaURL(name))
})

// schemaProblems validates a decoded descriptor (numbers as json.Number)
// against the JSON Schema and returns each leaf error as {field, message}.
func schemaProblems(obj map[string]any) [][2]string {
	sch, err := descriptorSchema()
	if err != nil {
		// The schema is embedded and compiled by fixtures' tests; failing
		// here is a build problem, reported rather than ignored.
		return [][2]string{{"", "cannot compile the descriptor schema: " + err.Error()}}
	}
	err = sch.Validate(obj)
	var ve *jsonschema.ValidationError
	if err == nil || !errors.As(err, &ve) {
		if err != nil {
			return [][2]string{{"", err.Error()}}
		}
		return nil
	}
	var out [][2]string
	for _, u := range ve.BasicOutput().Errors {
		if u.Error == nil {
			continue
		}
		field := strings.ReplaceAll(strings.TrimPrefix(u.InstanceLocation, "/"), "/", ".")
		msg := u.Error.String()
		if strings.HasPrefix(msg, "validation failed") || strings.HasPrefix(msg, "allOf failed") {
			continue // a summary of the leaves that follow
		}
		out = append(out, [2]string{field, msg})
	}
	return out
}

// nearestName returns the name in known within two edits of name, if one
// is.
func nearestName(known []string, name string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(k), strings.ToLower(name)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
