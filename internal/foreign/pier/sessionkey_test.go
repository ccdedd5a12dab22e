package pier

import "testing"

// The examples of contract section 11.3 (SKEY-004).
func TestSessionKeyExamples(t *testing.T) {
	for _, tc := range []struct {
		src  map[string]any
		want string
	}{
		{map[string]any{"platform": "discord", "chat_type": "group", "chat_id": "chan1", "user_id": "u1", "scope_id": "g1"}, "agent:main:discord:group:chan1:u1"},
		{map[string]any{"platform": "discord", "chat_type": "thread", "chat_id": "chan1", "thread_id": "th9", "user_id": "u1"}, "agent:main:discord:thread:chan1:th9"},
		{map[string]any{"platform": "telegram", "chat_type": "dm", "chat_id": "42"}, "agent:main:telegram:dm:42"},
		{map[string]any{"platform": "telegram", "chat_type": "dm", "chat_id": "", "user_id": "42", "thread_id": "5"}, "agent:main:telegram:dm:42:5"},
		{map[string]any{"platform": "slack", "chat_type": "group", "chat_id": "C1", "user_id": "U1", "scope_id": "T1"}, "agent:main:slack:group:T1:C1:U1"},
		{map[string]any{"platform": "pier", "chat_type": "group", "chat_id": "c", "prospective_thread_id": "p", "user_id": "u", "profile": "main"}, "agent:main~:pier:thread:c:p"},
		{map[string]any{"platform": "pier", "chat_type": "dm", "chat_id": "c", "profile": "ops"}, "agent:ops:pier:dm:c"},
	} {
		if got := sessionKey(tc.src); got != tc.want {
			t.Errorf("sessionKey(%v) = %q, want %q", tc.src, got, tc.want)
		}
	}
}
