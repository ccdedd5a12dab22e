package contract_test

import (
	"testing"

	"github.com/relaykit/relaykit/contract"
)

func TestSessionKeyVectors(t *testing.T) {
	def := contract.DefaultSessionKeyOptions()
	tests := []struct {
		name string
		src  contract.SessionSource
		opts contract.SessionKeyOptions
		want string
	}{
		{"discord group", contract.SessionSource{Platform: "discord", ChatType: "group", ChatID: "chan1", UserID: "u1", ScopeID: "g1"}, def, "agent:main:discord:group:chan1:u1"},
		{"discord thread shared", contract.SessionSource{Platform: "discord", ChatType: "thread", ChatID: "chan1", ThreadID: "th9", UserID: "u1"}, def, "agent:main:discord:thread:chan1:th9"},
		{"telegram dm", contract.SessionSource{Platform: "telegram", ChatType: "dm", ChatID: "42"}, def, "agent:main:telegram:dm:42"},
		{"dm without chat id", contract.SessionSource{Platform: "telegram", ChatType: "dm", UserID: "42", ThreadID: "5"}, def, "agent:main:telegram:dm:42:5"},
		{"slack scope", contract.SessionSource{Platform: "slack", ChatType: "group", ChatID: "C1", UserID: "U1", ScopeID: "T1"}, def, "agent:main:slack:group:T1:C1:U1"},
		{"profile", contract.SessionSource{Platform: "telegram", ChatType: "dm", ChatID: "42", Profile: "work"}, def, "agent:work:telegram:dm:42"},
		{"profile main", contract.SessionSource{Platform: "telegram", ChatType: "dm", ChatID: "42", Profile: "main"}, def, "agent:main~:telegram:dm:42"},
		{"prospective thread", contract.SessionSource{Platform: "discord", ChatType: "group", ChatID: "c", ProspectiveThreadID: "p", UserID: "u"}, def, "agent:main:discord:thread:c:p"},
		{"thread per user", contract.SessionSource{Platform: "discord", ChatType: "group", ChatID: "c", ThreadID: "t", UserID: "u", UserIDAlt: "alt"}, contract.SessionKeyOptions{GroupSessionsPerUser: true, ThreadSessionsPerUser: true}, "agent:main:discord:group:c:t:alt"},
		{"group shared", contract.SessionSource{Platform: "discord", ChatType: "group", ChatID: "c", UserID: "u"}, contract.SessionKeyOptions{}, "agent:main:discord:group:c"},
	}
	for _, tt := range tests {
		if got := contract.SessionKey(tt.src, tt.opts); got != tt.want {
			t.Errorf("%s: SessionKey = %q, want %q", tt.name, got, tt.want)
		}
	}
	for key, want := range map[string]string{"agent:main:x": "", "agent:main~:x": "main", "agent:work:x": "work", "bogus": ""} {
		if got := contract.SessionProfile(key); got != want {
			t.Errorf("SessionProfile(%q) = %q, want %q", key, got, want)
		}
	}
}
