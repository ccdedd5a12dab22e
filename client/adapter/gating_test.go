package adapter

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// legacyDesc advertises no supported_ops (so the legacy set) and no
// optional capability.
func legacyDesc(platform string) contract.CapabilityDescriptor {
	return desc(platform, 4096, contract.LenUnitChars)
}

// exercise uses every optional surface of a turn and reports what each
// call returned.
func exercise(ctx context.Context, t *Turn) map[string]error {
	errs := map[string]error{}
	_, errs["media"] = t.SendMedia(ctx, client.Media{Kind: "image", SourceURL: "https://example.com/cat.png", Caption: "a cat"})
	errs["react"] = t.React(ctx, "🎉")
	errs["delete"] = t.Chat().Delete(ctx, "m0")
	_, errs["thread_create"] = t.Chat().CreateThread(ctx, "topic")
	errs["thread_rename"] = t.Chat().RenameThread(ctx, "th1", "new name")
	info := t.Chat().Info(ctx)
	if info.Name != t.Chat().ID() || info.Type != "dm" {
		errs["info"] = errors.New("local chat info expected")
	}
	s := t.Stream()
	if s.Mode() != StreamSegments {
		errs["stream"] = errors.New("segments expected")
	}
	_ = s.Write(ctx, "streamed ")
	_ = s.Write(ctx, "text")
	_, errs["stream_close"] = s.Close(ctx)
	return errs
}

func TestUnadvertisedOpsTakeTheirFallbacks(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{legacyDesc("old")}, fn: runFn(jobs)})
	var errs map[string]error
	err := e.do(jobs, event("old", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		errs = exercise(ctx, t)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"react", "delete", "thread_create", "thread_rename"} {
		if !errors.Is(errs[k], ErrSkipped) {
			t.Errorf("%s: %v, want ErrSkipped", k, errs[k])
		}
	}
	for _, k := range []string{"media", "info", "stream", "stream_close"} {
		if errs[k] != nil {
			t.Errorf("%s: %v", k, errs[k])
		}
	}
	for _, a := range e.actions() {
		if !slices.Contains(contract.LegacyOps, a.Op) {
			t.Errorf("sent %s, which the descriptor does not advertise", a.Op)
		}
		if a.Op == contract.OpEdit {
			t.Error("edited without supports_edit")
		}
	}
	sends := ofOps(e.actions(), contract.OpSend)
	if len(sends) != 2 || sends[0].Content != "a cat\nhttps://example.com/cat.png" || sends[1].Content != "streamed text" {
		t.Fatalf("want the media link as text and one streamed segment: %s", e.dump())
	}
}

func TestDeviationIgnoreSupportedOps(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{
		descs:      []contract.CapabilityDescriptor{legacyDesc("old")},
		opts:       Options{deviations: deviation.NewSet(deviation.AdapterIgnoreSupportedOps)},
		clientDevs: deviation.NewSet(deviation.ClientUnsupportedOpSent),
		fn:         runFn(jobs),
	})
	_ = e.do(jobs, event("old", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		exercise(ctx, t)
		return nil
	})
	var unadvertised []string
	for _, a := range e.actions() {
		if !slices.Contains(contract.LegacyOps, a.Op) {
			unadvertised = append(unadvertised, a.Op)
		}
	}
	for _, op := range []string{contract.OpReact, contract.OpSendMedia, contract.OpDelete, contract.OpThreadCreate, contract.OpThreadRename, contract.OpGetChatInfo} {
		if !slices.Contains(unadvertised, op) {
			t.Errorf("ignore-supported-ops did not send %s: %v", op, unadvertised)
		}
	}
}

func TestFallbacksSurviveTheClientGate(t *testing.T) {
	// With ignore-supported-ops but without the client's own deviation,
	// the client refuses the frames locally (unsupported_op), and the
	// adapter still falls back: nothing unadvertised reaches the wire.
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{
		descs: []contract.CapabilityDescriptor{legacyDesc("old")},
		opts:  Options{deviations: deviation.NewSet(deviation.AdapterIgnoreSupportedOps)},
		fn:    runFn(jobs),
	})
	_ = e.do(jobs, event("old", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		exercise(ctx, t)
		return nil
	})
	for _, a := range e.actions() {
		if !slices.Contains(contract.LegacyOps, a.Op) {
			t.Errorf("sent %s through the client's gate", a.Op)
		}
	}
	if sends := ofOps(e.actions(), contract.OpSend); len(sends) == 0 || !strings.Contains(sends[0].Content, "example.com/cat.png") {
		t.Fatalf("the media link did not go out as text: %s", e.dump())
	}
}

func TestAdvertisedOpsAreUsed(t *testing.T) {
	jobs := make(chan turnJob, 1)
	d := desc("full", 4096, contract.LenUnitChars, allOps...)
	d.SupportsEdit = true
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{d}, fn: runFn(jobs), opts: Options{NoReactions: true}})
	var errs map[string]error
	_ = e.do(jobs, event("full", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		errs = exercise(ctx, t)
		return nil
	})
	for k, err := range errs {
		if k != "stream" && k != "info" && err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	for _, op := range []string{contract.OpSendMedia, contract.OpReact, contract.OpDelete, contract.OpThreadCreate, contract.OpThreadRename, contract.OpGetChatInfo, contract.OpEdit} {
		if len(ofOps(e.actions(), op)) == 0 {
			t.Errorf("%s was not used although advertised", op)
		}
	}
	rename := ofOps(e.actions(), contract.OpThreadRename)[0]
	if rename.ThreadName != "new name" || rename.MessageID != "th1" || !rename.OnlyIfConnectorCreated {
		t.Errorf("thread_rename %s", rename.raw)
	}
}
