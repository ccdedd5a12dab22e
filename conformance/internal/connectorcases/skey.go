package connectorcases

import (
	h "github.com/relaykit/relaykit/conformance/internal/harness"
	"github.com/relaykit/relaykit/contract"
)

// Connector cases of section 11: session keys.

var _ = h.ConnectorCase(h.Case{
	ID:    "SKEY-003/group-sessions",
	Reqs:  []string{"SKEY-003", "IN-011"},
	Text:  "the connector resolves the session keys of two users in one group chat, and of a thread in it, the way the contract computes them: another instance's interrupt for each reaches the owner",
	Needs: h.NeedControl,
}, func(s *h.S) {
	owner, other := twoInstances(s)
	s.Cc.Creds = owner
	po, _ := s.Connect()
	chat, thread := "conform-group-"+h.RandHex(3), "conform-thread-"+h.RandHex(3)
	var keys []string
	for i, user := range []string{"conform-user-a", "conform-user-b", "conform-user-a"} {
		m := s.NewMessage("from " + user)
		m.ChatType, m.ChatID, m.ScopeID, m.UserID, m.Addressed = "group", chat, "conform-scope", user, true
		if i == 2 {
			// The first user again, in a thread of the chat: a key of
			// its own (thread sessions are shared by default).
			m.ThreadID = thread
		}
		s.Inject(m)
		f := po.ExpectInbound("IN-001", m)
		ev, err := contract.DecodeEvent(mustJSON(f.Obj["event"]))
		if err != nil {
			s.Failf("IN-002", "an event that decodes", "%v", err)
		}
		keys = append(keys, contract.SessionKey(ev.Source, contract.DefaultSessionKeyOptions()))
	}
	s.Cc.Creds = other
	px, _ := s.Connect()
	reason := "conformance"
	for _, key := range keys {
		s.Step("the other instance interrupts %s", key)
		px.Send(contract.Interrupt{SessionKey: key, Reason: &reason})
		ii := po.Expect("SKEY-003", "an interrupt_inbound for "+key+" on the owning instance", func(f h.RxFrame) bool {
			return f.Type == contract.TypeInterruptInbound && f.Str("session_key") == key
		})
		s.Check(ii.Str("chat_id") == chat, "IN-011", "chat_id "+chat, "%s", ii)
	}
})
