package contract

import "strings"

// SessionKeyOptions are the gateway's per-user isolation flags.
type SessionKeyOptions struct {
	// GroupSessionsPerUser gives each participant of a group chat their own
	// session. The reference default is true.
	GroupSessionsPerUser bool
	// ThreadSessionsPerUser gives each participant of a thread their own
	// session. The reference default is false: a thread is shared.
	ThreadSessionsPerUser bool
}

// DefaultSessionKeyOptions returns the reference gateway's defaults.
func DefaultSessionKeyOptions() SessionKeyOptions {
	return SessionKeyOptions{GroupSessionsPerUser: true}
}

// SessionNamespace returns the key prefix for a profile: "agent:main" for
// no profile or "default", "agent:main~" for a profile literally named
// "main", otherwise "agent:<profile>".
func SessionNamespace(profile string) string {
	switch profile {
	case "", "default":
		return "agent:main"
	case "main":
		return "agent:main~"
	default:
		return "agent:" + profile
	}
}

// SessionKey computes the session key the gateway files an event under. It
// is the contract's oracle for connector normalisation: two sources that
// should share a conversation must give the same key.
//
// The parts, joined with ":" and skipping empty ones, are: the profile
// namespace; the platform; the chat type, or "thread" when the thread comes
// only from prospective_thread_id; the scope id, for Slack only; the chat id;
// then for a DM the participant (when isolating) and the thread, and for
// other chats the thread and then the participant (when isolating). A DM
// isolates only when it has no chat id; another chat isolates when
// GroupSessionsPerUser is set, unless it is in a thread and
// ThreadSessionsPerUser is not. The participant is user_id_alt, else
// user_id. WhatsApp id canonicalisation is out of scope.
func SessionKey(src SessionSource, opts SessionKeyOptions) string {
	isDM := src.ChatType == "dm"
	thread := src.ThreadID
	slot := src.ChatType
	if thread == "" && !isDM && src.ProspectiveThreadID != "" {
		thread = src.ProspectiveThreadID
		slot = "thread"
	}
	var isolate bool
	if isDM {
		isolate = src.ChatID == ""
	} else {
		isolate = opts.GroupSessionsPerUser && !(thread != "" && !opts.ThreadSessionsPerUser)
	}
	participant := src.UserIDAlt
	if participant == "" {
		participant = src.UserID
	}
	parts := []string{SessionNamespace(src.Profile), src.Platform, slot}
	if src.Platform == "slack" {
		parts = append(parts, src.ScopeID)
	}
	parts = append(parts, src.ChatID)
	if isDM {
		if isolate {
			parts = append(parts, participant)
		}
		parts = append(parts, thread)
	} else {
		parts = append(parts, thread)
		if isolate {
			parts = append(parts, participant)
		}
	}
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(':')
		}
		b.WriteString(p)
	}
	return b.String()
}

// SessionProfile reads the profile back out of a session key's namespace:
// "" for agent:main, "main" for agent:main~, otherwise the second segment.
func SessionProfile(key string) string {
	rest, ok := strings.CutPrefix(key, "agent:")
	if !ok {
		return ""
	}
	ns, _, _ := strings.Cut(rest, ":")
	switch ns {
	case "main":
		return ""
	case "main~":
		return "main"
	default:
		return ns
	}
}
