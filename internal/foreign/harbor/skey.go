package harbor

import "strings"

// source is the part of an event's SessionSource harbor reads.
type source struct {
	Platform            string `json:"platform"`
	ChatID              string `json:"chat_id"`
	ChatType            string `json:"chat_type"`
	ChatName            string `json:"chat_name,omitempty"`
	ThreadID            string `json:"thread_id,omitempty"`
	ProspectiveThreadID string `json:"prospective_thread_id,omitempty"`
	UserID              string `json:"user_id"`
	UserIDAlt           string `json:"user_id_alt,omitempty"`
	ScopeID             string `json:"scope_id,omitempty"`
	Profile             string `json:"profile,omitempty"`
	IsBot               bool   `json:"is_bot,omitempty"`
}

// sessionKey computes the session key of section 11.2 with the gateway's
// default flags (group_sessions_per_user true, thread_sessions_per_user
// false). noThread is the session-key-no-thread deviation.
func sessionKey(src source, noThread bool) string {
	ns := "agent:main"
	switch src.Profile {
	case "", "default":
	case "main":
		ns = "agent:main~"
	default:
		ns = "agent:" + src.Profile
	}
	chatType := src.ChatType
	if chatType == "" {
		chatType = "dm"
	}
	dm := chatType == "dm"
	thread := src.ThreadID
	prospective := false
	if thread == "" && !dm && src.ProspectiveThreadID != "" {
		thread, prospective = src.ProspectiveThreadID, true
	}
	if noThread {
		thread, prospective = "", false
	}
	slot := chatType
	if prospective {
		slot = "thread"
	}
	var isolate bool
	if dm {
		isolate = src.ChatID == ""
	} else {
		const groupPerUser, threadPerUser = true, false
		isolate = groupPerUser && !(thread != "" && !threadPerUser)
	}
	who := src.UserIDAlt
	if who == "" {
		who = src.UserID
	}
	parts := []string{ns, src.Platform, slot}
	if src.Platform == "slack" {
		parts = append(parts, src.ScopeID)
	}
	parts = append(parts, src.ChatID)
	if dm {
		if isolate {
			parts = append(parts, who)
		}
		parts = append(parts, thread)
	} else {
		parts = append(parts, thread)
		if isolate {
			parts = append(parts, who)
		}
	}
	kept := parts[:0]
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ":")
}
