package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/relaykit/relaykit/contract"
)

// Seed is state a simulator starts with, the way fake-gcs-server loads
// buckets and toxiproxy loads proxies at start: gateways, relevance
// policies, result scripts and faults. Each item is the body of the
// control route that makes it at run time (GatewaySpec for POST /gateways,
// ScriptRequest for POST /scripts, FaultRequest for POST /faults), so a
// seed file is written like the requests a test would send. Set it as
// Options.Seed; LoadSeedFile reads one from a JSON or YAML file. Reset
// applies it again.
type Seed struct {
	// Gateways are enrolled after Options.Gateways, and like them: a live
	// gateway already in the store with the same id wins, and Reset
	// restores them.
	Gateways []GatewaySpec `json:"gateways,omitempty"`
	// Policies are declared as their gateway would with POST
	// /relay/policy, replacing a stored one of the same instance and
	// platform.
	Policies []SeedPolicy `json:"policies,omitempty"`
	// Scripts are added in order, as by POST /scripts.
	Scripts []ScriptRequest `json:"scripts,omitempty"`
	// Faults are added in order, as by POST /faults: frame faults, and
	// the stopPongs and refuseConnections switches.
	Faults []FaultRequest `json:"faults,omitempty"`

	// Source names the seed in errors: the file LoadSeedFile read, or
	// "seed" when empty.
	Source string `json:"-"`
}

// SeedPolicy is a relevance policy in a seed: the body of POST
// /relay/policy (platform, requireAddress, freeResponseScopes,
// allowOtherBots) and the gateway that declares it, which must front the
// platform.
type SeedPolicy struct {
	GatewayID string `json:"gatewayId"`
	contract.PolicyRequest
}

func (sd *Seed) source() string {
	if sd.Source == "" {
		return "seed"
	}
	return sd.Source
}

// LoadSeedFile reads a seed from a file: YAML when its name ends in .yaml
// or .yml, JSON otherwise. It is decoded strictly: a member no seed item
// has, a value of the wrong type or a second document is refused, as the
// control API refuses them. Every error is a *FileError naming the file and
// the item (such as "scripts[1]"); what the items say (an unknown op, a
// platform the simulator does not serve) is checked when the simulator
// starts, with errors of the same form.
func LoadSeedFile(path string) (*Seed, error) {
	b, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	return ParseSeed(path, b)
}

// ParseSeed decodes a seed as LoadSeedFile does; name is the file name,
// which also picks the format.
func ParseSeed(name string, data []byte) (*Seed, error) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		j, err := yamlToJSON(name, data)
		if err != nil {
			return nil, err
		}
		data = j
	default:
		if err := jsonOneValue(name, data); err != nil {
			return nil, err
		}
	}
	// The sections first, then each item on its own, so an error says
	// which item it is in.
	var raw struct {
		Gateways []json.RawMessage `json:"gateways"`
		Policies []json.RawMessage `json:"policies"`
		Scripts  []json.RawMessage `json:"scripts"`
		Faults   []json.RawMessage `json:"faults"`
	}
	if err := decodeStrict(data, &raw); err != nil {
		return nil, fileErrorAt(name, "", err)
	}
	sd := &Seed{Source: name}
	if err := decodeItems(name, "gateways", raw.Gateways, &sd.Gateways); err != nil {
		return nil, err
	}
	if err := decodeItems(name, "policies", raw.Policies, &sd.Policies); err != nil {
		return nil, err
	}
	if err := decodeItems(name, "scripts", raw.Scripts, &sd.Scripts); err != nil {
		return nil, err
	}
	if err := decodeItems(name, "faults", raw.Faults, &sd.Faults); err != nil {
		return nil, err
	}
	return sd, nil
}

func decodeItems[T any](file, section string, raws []json.RawMessage, dst *[]T) error {
	for i, r := range raws {
		var v T
		if bytes.Equal(bytes.TrimSpace(r), []byte("null")) {
			return &FileError{File: file, Field: fmt.Sprintf("%s[%d]", section, i), Message: "must be an object, not null"}
		}
		if err := decodeStrict(r, &v); err != nil {
			return fileErrorAt(file, fmt.Sprintf("%s[%d]", section, i), err)
		}
		*dst = append(*dst, v)
	}
	return nil
}

// jsonOneValue checks that data is one JSON value, wording a syntax error
// with its line and column.
func jsonOneValue(name string, data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v any
	if err := dec.Decode(&v); err != nil {
		return jsonSyntaxError(name, data, err)
	}
	if _, err := dec.Token(); err == nil {
		return &FileError{File: name, Message: "holds more than one JSON value"}
	}
	if _, ok := v.(map[string]any); !ok {
		return &FileError{File: name, Message: "must be a JSON object with gateways, policies, scripts and faults"}
	}
	return nil
}

// yamlToJSON turns one YAML document into JSON, so it is decoded by the
// same strict decoder, into the same types, as the control API's bodies.
// Mapping keys must be strings, and each may appear once.
func yamlToJSON(name string, data []byte) ([]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil, &FileError{File: name, Message: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, &FileError{File: name, Message: fmt.Sprintf("holds a second YAML document (line %d); a seed is one document", next.Line)}
	}
	v, err := yamlValue(name, &doc, "", 0)
	if err != nil {
		return nil, err
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, &FileError{File: name, Message: "must be a mapping with gateways, policies, scripts and faults"}
	}
	return json.Marshal(v)
}

// yamlValue converts a node; path names it in errors.
func yamlValue(name string, n *yaml.Node, path string, depth int) (any, error) {
	if depth > 64 {
		return nil, &FileError{File: name, Field: path, Message: fmt.Sprintf("nested deeper than 64 levels (line %d)", n.Line)}
	}
	at := func(msg string, args ...any) error {
		return &FileError{File: name, Field: path, Message: fmt.Sprintf(msg, args...) + fmt.Sprintf(" (line %d)", n.Line)}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return map[string]any{}, nil
		}
		return yamlValue(name, n.Content[0], path, depth+1)
	case yaml.AliasNode:
		return yamlValue(name, n.Alias, path, depth+1)
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				return nil, at("merge keys (<<) are not supported")
			}
			if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
				return nil, at("a mapping key must be a string")
			}
			key := k.Value
			sub := key
			if path != "" {
				sub = path + "." + key
			}
			if _, dup := out[key]; dup {
				return nil, &FileError{File: name, Field: sub, Message: fmt.Sprintf("given twice (line %d)", k.Line)}
			}
			val, err := yamlValue(name, v, sub, depth+1)
			if err != nil {
				return nil, err
			}
			out[key] = val
		}
		return out, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			val, err := yamlValue(name, c, fmt.Sprintf("%s[%d]", path, i), depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, val)
		}
		return out, nil
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, at("%v", err)
			}
			return b, nil
		case "!!int":
			var i int64
			if err := n.Decode(&i); err != nil {
				return nil, at("%v", err)
			}
			return json.Number(strconv.FormatInt(i, 10)), nil
		case "!!float":
			var f float64
			if err := n.Decode(&f); err != nil {
				return nil, at("%v", err)
			}
			return f, nil
		default: // !!str, !!timestamp, !!binary: the text as written
			return n.Value, nil
		}
	}
	return nil, at("unsupported YAML node")
}

// enrollSeed enrolls the seed's gateways like Options.Gateways; the server
// is not yet shared.
func (s *Server) enrollSeed() error {
	sd := s.cfg.Seed
	if sd == nil {
		return nil
	}
	enrolled := map[string]bool{}
	for _, g := range s.initial {
		enrolled[g.GatewayID] = true
	}
	for i, spec := range sd.Gateways {
		if enrolled[spec.GatewayID] {
			return &FileError{File: sd.source(), Field: fmt.Sprintf("gateways[%d].gatewayId", i),
				Message: fmt.Sprintf("gateway %q is already enrolled at start (earlier in gateways, or by Options.Gateways or --gateway-id)", spec.GatewayID)}
		}
		enrolled[spec.GatewayID] = true
		if g, ok := s.gatewayRecord(spec.GatewayID); ok && !g.Revoked {
			s.initial = append(s.initial, g)
			continue
		}
		g, err := s.enroll(spec, false)
		if err != nil {
			return fileErrorAt(sd.source(), fmt.Sprintf("gateways[%d]", i), err)
		}
		s.initial = append(s.initial, g)
	}
	return s.applySeed()
}

// applySeed declares the seed's policies and adds its scripts and faults:
// at start, and again after Reset.
func (s *Server) applySeed() error {
	sd := s.cfg.Seed
	if sd == nil {
		return nil
	}
	src := sd.source()
	for i, p := range sd.Policies {
		if err := s.seedPolicy(p); err != nil {
			return fileErrorAt(src, fmt.Sprintf("policies[%d]", i), err)
		}
	}
	for i, sr := range sd.Scripts {
		if _, err := s.Script(sr.ResultScript()); err != nil {
			return fileErrorAt(src, fmt.Sprintf("scripts[%d]", i), err)
		}
	}
	for i, fr := range sd.Faults {
		if _, err := s.applyFault(fr); err != nil {
			return fileErrorAt(src, fmt.Sprintf("faults[%d]", i), err)
		}
	}
	return nil
}

// seedPolicy declares a policy for its gateway, checked as POST
// /relay/policy checks it.
func (s *Server) seedPolicy(p SeedPolicy) error {
	g, ok := s.gatewayRecord(p.GatewayID)
	if !ok || g.Revoked {
		return badRequest("gatewayId", "no enrolled gateway %q (enroll it in gateways, or with --gateway-id)", p.GatewayID)
	}
	req := p.PolicyRequest
	if req.FreeResponseScopes == nil {
		req.FreeResponseScopes = []string{}
	}
	body, _ := json.Marshal(req)
	if err := firstViolation(contract.ValidateBody(contract.BodyPolicyRequest, body)); err != nil {
		return err
	}
	if !g.fronts(req.Platform) {
		return badRequest("platform", "%q is not fronted by gateway %q (it fronts %s)", req.Platform, g.GatewayID, strings.Join(g.Platforms, ", "))
	}
	return s.declarePolicy(g.InstanceID, req)
}
