package adapter

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
	"github.com/relaykit/relaykit/simulator"
)

func draftDesc(platform string, limit int) contract.CapabilityDescriptor {
	d := desc(platform, limit, contract.LenUnitUTF16, allOps...)
	d.SupportsDraftStreaming, d.SupportsEdit = true, true
	return d
}

func editDesc(platform string, limit int) contract.CapabilityDescriptor {
	d := desc(platform, limit, contract.LenUnitChars, contract.LegacyOps...)
	d.SupportsEdit = true
	return d
}

// quiet turns off heartbeats and reactions and throttling, so a test sees
// only the frames of the stream.
var quiet = Options{TypingInterval: -1, NoReactions: true, StreamInterval: -1}

func streamWords(ctx context.Context, s *Stream, words ...string) error {
	for _, w := range words {
		if err := s.Write(ctx, w); err != nil {
			return err
		}
	}
	return nil
}

func TestStreamDraftsWhereAdvertised(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{draftDesc("tg", 4096)}, opts: quiet, fn: runFn(jobs)})
	var sent Sent
	err := e.do(jobs, event("tg", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		s := t.Stream()
		if s.Mode() != StreamDraft {
			return errors.New("want draft mode")
		}
		if err := streamWords(ctx, s, "one ", "two ", "three"); err != nil {
			return err
		}
		var err error
		sent, err = s.Close(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	drafts := ofOps(e.actions(), contract.OpDraft)
	if len(drafts) != 4 {
		t.Fatalf("want 3 draft frames and a seal: %s", e.dump())
	}
	id := drafts[0].DraftID
	for i, d := range drafts {
		if d.DraftID != id {
			t.Errorf("frame %d has draft_id %d, want %d", i, d.DraftID, id)
		}
		if d.Final != (i == 3) {
			t.Errorf("frame %d final = %v", i, d.Final)
		}
	}
	if drafts[3].Content != "one two three" || len(sent.MessageIDs) != 1 || sent.MessageIDs[0] != drafts[3].result.MessageID {
		t.Fatalf("seal %s -> %s, sent %+v", drafts[3].raw, drafts[3].rec.Result, sent)
	}
	if n := len(ofOps(e.actions(), contract.OpSend, contract.OpEdit)); n != 0 {
		t.Fatalf("a draft stream sent %d sends or edits", n)
	}
}

func TestStreamDraftSealRetriedOnceOnAmbiguous(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{draftDesc("tg", 4096)}, opts: quiet, fn: runFn(jobs)})
	e.script(simulator.ResultScript{Op: contract.OpDraft, Times: 1, Result: json.RawMessage(`{"success":false,"ambiguous":true,"error":"relay outbound timed out"}`)})
	var sent Sent
	err := e.do(jobs, event("tg", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		s := t.Stream()
		var err error
		sent, err = s.Close(ctx) // nothing written yet: the seal is the first frame
		if err != nil {
			return err
		}
		s = t.Stream()
		_ = s.Write(ctx, "hello")
		sent, err = s.Close(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	drafts := ofOps(e.actions(), contract.OpDraft)
	// The first frame (a preview) was ambiguous and is superseded by the
	// seal, which succeeds at once.
	if len(drafts) != 2 || !drafts[1].Final || len(sent.MessageIDs) != 1 {
		t.Fatalf("%s", e.dump())
	}

	e.script(simulator.ResultScript{Op: contract.OpDraft, Times: 1, Result: json.RawMessage(`{"success":false,"ambiguous":true,"error":"relay outbound timed out"}`)})
	err = e.do(jobs, event("tg", "c1", "m2", "hi"), func(ctx context.Context, t *Turn) error {
		s := t.Stream()
		s.buf.WriteString("sealed at once") // no preview: Close seals directly
		sent, err = s.Close(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	seals := ofOps(e.actions(), contract.OpDraft)[2:]
	if len(seals) != 2 || string(seals[0].raw) != string(seals[1].raw) || !seals[0].Final {
		t.Fatalf("want the ambiguous seal retried once with the identical frame: %s", e.dump())
	}
	if len(sent.MessageIDs) != 1 {
		t.Fatalf("sent %+v", sent)
	}
}

func TestStreamDraftSealAmbiguousTwiceIsReported(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{draftDesc("tg", 4096)}, opts: quiet, fn: runFn(jobs)})
	e.script(simulator.ResultScript{Op: contract.OpDraft, Result: json.RawMessage(`{"success":false,"ambiguous":true,"error":"lost"}`)})
	err := e.do(jobs, event("tg", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		s := t.Stream()
		s.buf.WriteString("x")
		_, err := s.Close(ctx)
		return err
	})
	if !errors.Is(err, ErrAmbiguous) {
		t.Fatalf("Close: %v, want ErrAmbiguous", err)
	}
	if n := len(ofOps(e.actions(), contract.OpDraft)); n != 2 {
		t.Fatalf("want exactly one retry, got %d frames", n)
	}
	if n := len(ofOps(e.actions(), contract.OpSend)); n != 0 {
		t.Fatal("an ambiguous seal must not be re-sent as a plain message")
	}
}

func TestStreamDraftRefusedFallsBackToEdits(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{draftDesc("tg", 4096)}, opts: quiet, fn: runFn(jobs)})
	e.script(simulator.ResultScript{Op: contract.OpDraft, Fail: &simulator.ScriptFailure{Error: "drafts unavailable", Code: contract.CodeInternal}})
	err := e.do(jobs, event("tg", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		s := t.Stream()
		if err := streamWords(ctx, s, "one ", "two"); err != nil {
			return err
		}
		if s.Mode() != StreamEdit {
			return errors.New("want edit mode after a refused draft")
		}
		_, err := s.Close(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	as := e.actions()
	if len(ofOps(as, contract.OpDraft)) != 1 || len(ofOps(as, contract.OpSend)) != 1 || len(ofOps(as, contract.OpEdit)) != 0 {
		t.Fatalf("want one refused draft, then one send of the full text: %s", e.dump())
	}
	if s := ofOps(as, contract.OpSend)[0]; s.Content != "one two" || s.ReplyTo == nil || *s.ReplyTo != "m1" {
		t.Fatalf("send %s", s.raw)
	}
}

func TestStreamDraftDeclinedStops(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{draftDesc("tg", 4096)}, opts: quiet, fn: runFn(jobs)})
	e.script(simulator.ResultScript{Op: contract.OpDraft, EgressDeclined: true})
	var werr, cerr error
	_ = e.do(jobs, event("tg", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		s := t.Stream()
		werr = streamWords(ctx, s, "secret ", "more")
		_, cerr = s.Close(ctx)
		return nil
	})
	if !errors.Is(werr, ErrDeclined) || !errors.Is(cerr, ErrDeclined) {
		t.Fatalf("Write: %v, Close: %v; want ErrDeclined", werr, cerr)
	}
	if as := e.actions(); len(as) != 1 {
		t.Fatalf("a declined draft must end the stream with no other op: %s", e.dump())
	}
}

func TestStreamEditsWhereSupported(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{editDesc("dc", 40)}, opts: quiet, fn: runFn(jobs)})
	var sent Sent
	err := e.do(jobs, event("dc", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		s := t.Stream()
		if s.Mode() != StreamEdit {
			return errors.New("want edit mode")
		}
		if err := streamWords(ctx, s, strings.SplitAfter(strings.Repeat("word ", 20), " ")...); err != nil {
			return err
		}
		var err error
		sent, err = s.Close(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	as := ofOps(e.actions(), contract.OpSend, contract.OpEdit)
	var msgs []string // final content of each message
	for _, a := range as {
		if n := Length(a.Content, contract.LenUnitChars); n > 40 {
			t.Errorf("%s of %d chars, over the limit 40", a.Op, n)
		}
		if a.Op == contract.OpSend {
			msgs = append(msgs, a.Content)
		} else {
			msgs[len(msgs)-1] = a.Content
		}
	}
	if len(msgs) < 3 || len(sent.MessageIDs) != len(msgs) {
		t.Fatalf("want the overflowing stream spread over several messages: %v %+v\n%s", msgs, sent, e.dump())
	}
	if got, want := strings.Join(msgs, ""), strings.Repeat("word ", 20); got != want {
		t.Fatalf("messages %q do not add up to the text", msgs)
	}
}

func TestStreamSegmentsWithoutEdit(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("old", 4096, "chars")}, opts: quiet, fn: runFn(jobs)})
	err := e.do(jobs, event("old", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		s := t.Stream()
		_ = streamWords(ctx, s, "first ", "segment")
		if err := s.EndSegment(ctx); err != nil {
			return err
		}
		_ = streamWords(ctx, s, "second")
		_, err := s.Close(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sends := ofOps(e.actions(), contract.OpSend)
	if len(ofOps(e.actions(), contract.OpEdit)) != 0 || len(sends) != 2 || sends[0].Content != "first segment" || sends[1].Content != "second" {
		t.Fatalf("want one message per segment and no edit: %s", e.dump())
	}
}

func TestDeviationEditWithoutSupport(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{
		descs: []contract.CapabilityDescriptor{desc("old", 4096, "chars")},
		opts:  Options{TypingInterval: -1, NoReactions: true, StreamInterval: -1, deviations: deviation.NewSet(deviation.AdapterEditWithoutSupport)},
		fn:    runFn(jobs),
	})
	_ = e.do(jobs, event("old", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		s := t.Stream()
		_ = streamWords(ctx, s, "a", "b")
		_, err := s.Close(ctx)
		return err
	})
	if len(ofOps(e.actions(), contract.OpEdit)) == 0 {
		t.Fatalf("edit-without-support did not edit: %s", e.dump())
	}
}

func TestStreamThrottlesUpdates(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{editDesc("dc", 4096)}, opts: Options{TypingInterval: -1, NoReactions: true}, fn: runFn(jobs)})
	err := e.do(jobs, event("dc", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		s := t.Stream()
		_ = streamWords(ctx, s, "a", "b", "c") // one send, then held
		e.clk.Advance(DefaultStreamInterval)
		_ = streamWords(ctx, s, "d", "e") // one edit, then held
		_, err := s.Close(ctx)            // the last edit
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	as := ofOps(e.actions(), contract.OpSend, contract.OpEdit)
	if len(as) != 3 || as[0].Content != "a" || as[1].Content != "abcd" || as[2].Content != "abcde" {
		t.Fatalf("%s", e.dump())
	}
}

func TestStreamKeepsFencesBalancedAcrossMessages(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{editDesc("dc", 60)}, opts: quiet, fn: runFn(jobs)})
	code := "```go\n" + strings.Repeat("x := 1\n", 20) + "```"
	err := e.do(jobs, event("dc", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		s := t.Stream()
		for _, line := range strings.SplitAfter(code, "\n") {
			if err := s.Write(ctx, line); err != nil {
				return err
			}
		}
		_, err := s.Close(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, a := range ofOps(e.actions(), contract.OpSend, contract.OpEdit) {
		if a.Op == contract.OpSend {
			msgs = append(msgs, a.Content)
		} else {
			msgs[len(msgs)-1] = a.Content
		}
	}
	if len(msgs) < 2 {
		t.Fatalf("%q", msgs)
	}
	for i, m := range msgs {
		if strings.Count(m, "```")%2 != 0 || !strings.HasPrefix(m, "```go\n") {
			t.Errorf("message %d is not a balanced go block: %q", i, m)
		}
	}
}

func TestStreamDraftsRespectTheLimit(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{draftDesc("tg", 40)}, opts: quiet, fn: runFn(jobs)})
	text := astralText(60)
	var sent Sent
	err := e.do(jobs, event("tg", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		s := t.Stream()
		for _, r := range text {
			if err := s.Write(ctx, string(r)); err != nil {
				return err
			}
		}
		var err error
		sent, err = s.Close(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var seals []string
	ids := map[int64]bool{}
	for _, d := range ofOps(e.actions(), contract.OpDraft) {
		if n := Length(d.Content, contract.LenUnitUTF16); n > 40 {
			t.Errorf("draft frame of %d UTF-16 units, over the limit 40", n)
		}
		if d.Final {
			if ids[d.DraftID] {
				t.Errorf("draft %d sealed twice", d.DraftID)
			}
			ids[d.DraftID] = true
			seals = append(seals, d.Content)
		}
	}
	if len(seals) < 2 || len(sent.MessageIDs) != len(seals) || strings.Join(seals, "") != text {
		t.Fatalf("want the text sealed over several drafts: %q", seals)
	}
}

func TestStreamDraftSealRetriedAfterARealTimeout(t *testing.T) {
	// The client's own outbound timeout makes the first seal ambiguous;
	// the client runs on a manual clock so the timeout is exact.
	cclk := clock.NewManual(time.Now()) // tokens it mints must be valid on the wall clock
	jobs := make(chan turnJob, 1)
	const ttl = 45 * time.Second
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{draftDesc("tg", 4096)}, opts: quiet, fn: runFn(jobs), clientClock: cclk, outboundTTL: ttl})
	e.script(simulator.ResultScript{Op: contract.OpDraft, Times: 1, NeverAnswer: true})
	j := turnJob{done: make(chan error, 1)}
	var sent Sent
	j.f = func(ctx context.Context, t *Turn) error {
		s := t.Stream()
		s.buf.WriteString("sealed")
		var err error
		sent, err = s.Close(ctx)
		return err
	}
	jobs <- j
	e.inject(event("tg", "c1", "m1", "hi"))
	e.eventually("the first seal", func() bool { return len(ofOps(e.rawActions(), contract.OpDraft)) == 1 })
	// The call's timer is the client's earliest: wait until it is armed.
	e.eventually("the outbound timer", func() bool {
		d, ok := cclk.NextDeadline()
		return ok && d.Sub(cclk.Now()) == ttl
	})
	cclk.Advance(ttl)
	if err := recv(t, j.done); err != nil {
		t.Fatal(err)
	}
	seals := ofOps(e.actions(), contract.OpDraft)
	if len(seals) != 2 || string(seals[0].raw) != string(seals[1].raw) || len(sent.MessageIDs) != 1 {
		t.Fatalf("want the timed-out seal retried once, identically: %s", e.dump())
	}
}
