package main

import "strings"

// source is the part of an event's SessionSource lantern uses.
type source struct {
	Platform            string `json:"platform"`
	ChatID              string `json:"chat_id"`
	ChatType            string `json:"chat_type"`
	ThreadID            string `json:"thread_id"`
	ProspectiveThreadID string `json:"prospective_thread_id"`
	UserID              string `json:"user_id"`
	UserIDAlt           string `json:"user_id_alt"`
	ScopeID             string `json:"scope_id"`
	Profile             string `json:"profile"`
	MessageID           string `json:"message_id"`
}

// Session-key flags (SKEY-001 defaults).
const (
	groupSessionsPerUser  = true
	threadSessionsPerUser = false
)

// sessionKey computes a session key by the algorithm of section 11.2.
// discordScope is the deviation discord-scope-in-session-key.
func sessionKey(s source, discordScope bool) string {
	ns := "agent:main"
	switch s.Profile {
	case "", "default":
	case "main":
		ns = "agent:main~"
	default:
		ns = "agent:" + s.Profile
	}
	dm := s.ChatType == "dm"
	thread, prospective := s.ThreadID, false
	if thread == "" && !dm && s.ProspectiveThreadID != "" {
		thread, prospective = s.ProspectiveThreadID, true
	}
	slot := s.ChatType
	if prospective {
		slot = "thread"
	}
	var isolate bool
	if dm {
		isolate = s.ChatID == ""
	} else {
		isolate = groupSessionsPerUser && (thread == "" || threadSessionsPerUser)
	}
	who := s.UserIDAlt
	if who == "" {
		who = s.UserID
	}
	parts := []string{ns, s.Platform, slot}
	if s.Platform == "slack" || (discordScope && s.Platform == "discord") {
		parts = append(parts, s.ScopeID)
	}
	parts = append(parts, s.ChatID)
	switch {
	case dm && isolate:
		parts = append(parts, who, thread)
	case dm:
		parts = append(parts, thread)
	case isolate:
		parts = append(parts, thread, who)
	default:
		parts = append(parts, thread)
	}
	keep := parts[:0]
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, ":")
}
