package simulator_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// exampleSeed is the checked-in example of docs/relaysim.md.
const exampleSeed = "../examples/relaysim/seed.yaml"

// TestSeedFileIsLoadedAndResetAppliesItAgain: the example seed's gateway,
// policy, scripts and fault are in place at start, act on traffic, and
// come back after Reset.
func TestSeedFileIsLoadedAndResetAppliesItAgain(t *testing.T) {
	sd, err := simulator.LoadSeedFile(exampleSeed)
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, simulator.Options{Seed: sd})
	check := func(when string) {
		t.Helper()
		g, ok := s.Gateway("gw-shop")
		if !ok || g.Tenant != "acme" || g.InstanceID != "shop" || strings.Join(g.Platforms, ",") != "telegram,slack" {
			t.Fatalf("%s: gateway %+v", when, g)
		}
		if p := s.Policy("shop", "slack"); !p.RequireAddress || strings.Join(p.FreeResponseScopes, ",") != "C-support" {
			t.Fatalf("%s: policy %+v", when, p)
		}
		sc := s.Scripts()
		if len(sc) != 2 || sc[0].Op != "send" || sc[0].Fail == nil || sc[0].Fail.Code != "chat_archived" || !sc[1].EgressDeclined || sc[1].Times != 1 {
			t.Fatalf("%s: scripts %+v", when, sc)
		}
		f := s.Faults()
		if len(f) != 1 || f[0].Delay != 250*time.Millisecond || f[0].Direction != simulator.DirOut || f[0].Probability != 0.2 {
			t.Fatalf("%s: faults %+v", when, f)
		}
	}
	check("at start")

	// The policy gates, and the scripts answer.
	if d := inject(t, s, "gw-shop", eventWith("slack", "C-general", "hi", map[string]any{"chat_type": "group"})); d.Mode != simulator.DeliveryFiltered {
		t.Fatalf("unaddressed group message under requireAddress: %+v", d)
	}
	g := dialGW(t, s, "gw-shop")
	g.hello("telegram")
	if r := g.call("telegram", contract.Action{Op: contract.OpSend, ChatID: "c-archived", Content: "hello"}); r.Code != "chat_archived" {
		t.Fatalf("scripted failure: %+v", r)
	}
	if r := g.call("telegram", contract.Action{Op: contract.OpReact, ChatID: "c1", MessageID: "m1", Emoji: "👍"}); r.Code != "egress_declined" {
		t.Fatalf("scripted decline: %+v", r)
	}

	s.ClearScripts()
	s.ClearFaults()
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	check("after Reset")
}

// TestSeedYAMLAndJSONAreTheSame: a seed reads the same from YAML and from
// JSON, into the control API's own request types.
func TestSeedYAMLAndJSONAreTheSame(t *testing.T) {
	fromYAML, err := simulator.LoadSeedFile(exampleSeed)
	if err != nil {
		t.Fatal(err)
	}
	js := `{
  "gateways": [{"gatewayId": "gw-shop", "secret": "shop-secret-for-local-tests-only", "platforms": ["telegram", "slack"], "instanceId": "shop", "tenant": "acme"}],
  "policies": [{"gatewayId": "gw-shop", "platform": "slack", "requireAddress": true, "freeResponseScopes": ["C-support"]}],
  "scripts": [{"op": "send", "chatId": "c-archived", "fail": {"error": "chat is archived", "code": "chat_archived"}},
              {"gatewayId": "gw-shop", "op": "react", "egressDeclined": true, "times": 1}],
  "faults": [{"gatewayId": "gw-shop", "direction": "out", "frameTypes": ["inbound"], "delay": "250ms", "probability": 0.2, "seed": 7}]
}`
	fromJSON, err := simulator.ParseSeed("seed.json", []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	fromJSON.Source = fromYAML.Source
	if diff := cmp.Diff(fromYAML, fromJSON); diff != "" {
		t.Fatalf("YAML and JSON differ (-yaml +json):\n%s", diff)
	}
}

// TestSeedDecodedStrictly: a seed file is refused, naming the file and the
// item, for anything the control API would refuse in a body, and for what
// only a file can get wrong (syntax, a key given twice, a second document).
func TestSeedDecodedStrictly(t *testing.T) {
	for _, tc := range []struct {
		name, file, body, field, want string
	}{
		{"misspelt section", "s.yaml", "gateway:\n  - gatewayId: a\n", "gateway", `unknown field "gateway" (did you mean "gateways"?)`},
		{"misspelt item field", "s.yaml", "scripts:\n  - opp: send\n", "scripts[0]", `unknown field "opp" (did you mean "op"?)`},
		{"nested unknown field", "s.yaml", "scripts:\n  - op: send\n    fail: {error: x, cod: y}\n", "scripts[0]", `unknown field "cod" (did you mean "code"?)`},
		{"policy field", "s.json", `{"policies": [{"gatewayId": "g", "platform": "slack", "requireAdress": true}]}`, "policies[0]", `did you mean "requireAddress"?`},
		{"wrong type", "s.yaml", "faults:\n  - drop: true\n    probability: high\n", "faults[0].probability", "must be a JSON number, not string"},
		{"bad duration", "s.yaml", "faults:\n  - delay: soon\n", "faults[0]", `invalid duration "soon"`},
		{"section not a list", "s.yaml", "scripts: {op: send}\n", "scripts", "must be a JSON array"},
		{"null item", "s.yaml", "scripts:\n  -\n", "scripts[0]", "must be an object, not null"},
		{"key given twice", "s.yaml", "scripts:\n  - op: send\n    op: edit\n", "scripts[0].op", "given twice (line 3)"},
		{"non-string key", "s.yaml", "scripts:\n  - 1: send\n", "scripts[0]", "a mapping key must be a string"},
		{"merge key", "s.yaml", "scripts:\n  - &a {op: send}\n  - <<: *a\n    chatId: c\n", "scripts[1]", "merge keys (<<) are not supported"},
		{"anchors resolve", "s.yaml", "scripts:\n  - &a {op: send, opp: x}\n  - *a\n", "scripts[0]", `unknown field "opp"`},
		{"second document", "s.yaml", "scripts: []\n---\nfaults: []\n", "", "second YAML document (line 2)"},
		{"yaml syntax", "s.yml", "scripts:\n  - op: [send\n", "", "not valid YAML"},
		{"not a mapping", "s.yaml", "- op: send\n", "", "must be a mapping"},
		{"json syntax", "s.json", "{\n  \"scripts\": [,]\n}", "", "line 2, column 15"},
		{"json not an object", "s.json", `[]`, "", "must be a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := simulator.LoadSeedFile(path)
			var fe *simulator.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *FileError", err)
			}
			if fe.File != path || fe.Field != tc.field || !strings.Contains(fe.Message, tc.want) {
				t.Fatalf("got file %q field %q message %q; want %q, %q and %q", fe.File, fe.Field, fe.Message, path, tc.field, tc.want)
			}
		})
	}
}

// TestSeedItemsCheckedAtStart: what a seed item says is checked when the
// simulator starts, as the control route would check it, and the error
// names the item; nothing starts.
func TestSeedItemsCheckedAtStart(t *testing.T) {
	for _, tc := range []struct {
		name, body, field, want string
	}{
		{"unknown op", "scripts:\n  - op: send\n  - op: shout\n", "scripts[1].op", `unknown op "shout"`},
		{"fault without effect", "faults:\n  - gatewayId: gw\n", "faults[0]", "a fault needs drop, delay, stopPongs or refuseConnections"},
		{"fault direction", "faults:\n  - drop: true\n    direction: sideways\n", "faults[0].direction", "must be in, out or both"},
		{"fault frame type", "faults:\n  - drop: true\n    frameTypes: [pong]\n", "faults[0].frameTypes", `unknown frame type "pong"`},
		{"unserved platform", "gateways:\n  - gatewayId: gw\n    platforms: [myspace]\n", "gateways[0].platforms", `"myspace" is not a platform this simulator serves`},
		{"gateway twice", "gateways:\n  - gatewayId: gw\n  - gatewayId: gw\n", "gateways[1].gatewayId", "already enrolled"},
		{"policy of nobody", "policies:\n  - gatewayId: ghost\n    platform: slack\n", "policies[0].gatewayId", `no enrolled gateway "ghost"`},
		{"policy not fronted", "gateways:\n  - gatewayId: gw\n    platforms: [telegram]\npolicies:\n  - gatewayId: gw\n    platform: slack\n", "policies[0].platform", `"slack" is not fronted by gateway "gw"`},
		{"policy without platform", "gateways:\n  - gatewayId: gw\npolicies:\n  - gatewayId: gw\n", "policies[0].platform", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sd, err := simulator.ParseSeed("seed.yaml", []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			s, err := simulator.New(simulator.Options{Seed: sd})
			if err == nil {
				s.Close()
				t.Fatal("the simulator started")
			}
			var fe *simulator.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *FileError", err)
			}
			if fe.File != "seed.yaml" || fe.Field != tc.field || !strings.Contains(fe.Message, tc.want) {
				t.Fatalf("got field %q message %q; want %q and %q", fe.Field, fe.Message, tc.field, tc.want)
			}
		})
	}
}
