package contract_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// FuzzFrameReader feeds arbitrary messages through the splitter and the
// decoder: nothing may panic, every decoded frame must re-encode to a frame
// that decodes again, and the splitter must never yield more than its cap.
func FuzzFrameReader(f *testing.F) {
	for _, s := range append(append([]string{}, referenceV5...), canonicalV5...) {
		f.Add([]byte(s), 7)
	}
	f.Add([]byte("{\"type\":\"inbound\",\"event\":{\"source\":{}}}\n[]\n{\"type\":\"descriptor\"}\n"), 3)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		s := contract.LineSplitter{MaxFrameSize: 4096}
		if cut < 0 {
			cut = -cut
		}
		cut %= len(data) + 1
		for _, part := range [][]byte{data[:cut], data[cut:]} {
			err := s.Feed(part, func(line []byte) error {
				if len(line) > 4096 || bytes.IndexByte(line, '\n') >= 0 {
					t.Fatalf("splitter yielded a bad line of %d bytes", len(line))
				}
				_ = contract.ValidateFrame(append(append([]byte{}, line...), '\n'))
				fr, err := contract.DecodeFrame(line)
				if err != nil {
					return nil
				}
				out, err := contract.EncodeFrame(fr)
				if err != nil {
					return nil // e.g. an unknown frame holding invalid raw JSON cannot occur, but stay safe
				}
				if _, err := contract.DecodeFrame(out); err != nil {
					t.Fatalf("re-encoded frame does not decode: %v\n%s", err, out)
				}
				return nil
			})
			if err != nil {
				return
			}
		}
	})
}

// FuzzVerifyToken checks that no input panics and that only tokens signed
// with the secret verify.
func FuzzVerifyToken(f *testing.F) {
	f.Add(v1Token, int64(1700000000))
	f.Add(v2Token, int64(0))
	f.Add("Z3c6MTox", int64(1))
	f.Fuzz(func(t *testing.T, token string, now int64) {
		c, err := contract.VerifyToken(token, []string{"s3cret"}, time.Unix(now, 0))
		if err == nil && contract.MintToken(c.GatewayID, "s3cret", c.Exp) != token {
			t.Fatalf("non-canonical token verified: %q", token)
		}
	})
}

// FuzzDecodeDescriptor checks that decoding never panics and that what
// decodes re-encodes to a descriptor with the same values.
func FuzzDecodeDescriptor(f *testing.F) {
	b, _ := contract.PlaceholderDescriptor("discord").MarshalJSON()
	f.Add(b)
	f.Add([]byte(`{"contract_version":1,"platform":"p","label":"l","max_message_length":"9","supports_draft_streaming":false,"supports_edit":true,"supports_threads":false,"markdown_dialect":"x","len_unit":"utf16","supported_ops":[1,"a"]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := contract.DecodeDescriptor(raw)
		if err != nil {
			return
		}
		out, err := d.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		d2, err := contract.DecodeDescriptor(out)
		if err != nil {
			t.Fatalf("re-encoded descriptor does not decode: %v\n%s", err, out)
		}
		if d2.MessageLimit() != d.MessageLimit() || d2.Platform != d.Platform || len(d2.SupportedOps) != len(d.SupportedOps) {
			t.Fatalf("descriptor changed in a round trip:\n%+v\n%+v", d, d2)
		}
	})
}

// FuzzDirectUnmarshal calls the hand-written decoders on arbitrary bytes,
// as a caller bypassing encoding/json's validity check might: they may
// fail, never panic.
func FuzzDirectUnmarshal(f *testing.F) {
	f.Add([]byte(`{"op":"send","chat_id":1,"metadata":{"a":[1,{"b":"}"}]}}`))
	f.Add([]byte(`{"success":true,"message_id":"m","chat_info":{"name":"n"},"x":"\"}"}`))
	f.Add([]byte(`{"a":`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var a contract.Action
		_ = a.UnmarshalJSON(data)
		var r contract.Result
		_ = r.UnmarshalJSON(data)
	})
}
