package pier

import "strings"

// sessionKey computes the session key of a source by the algorithm of
// contract section 11.2, with the gateway defaults
// group_sessions_per_user=true and thread_sessions_per_user=false (pier
// cannot know a gateway's flags; SKEY-003 resolves keys over what it
// delivered, and the defaults are what the gateways it serves use).
func sessionKey(src map[string]any) string {
	str := func(k string) string { s, _ := src[k].(string); return s }
	ns := "agent:main"
	switch p := str("profile"); p {
	case "", "default":
	case "main":
		ns = "agent:main~"
	default:
		ns = "agent:" + p
	}
	chatType := str("chat_type")
	dm := chatType == "dm"
	thread, fromProspective := str("thread_id"), false
	if thread == "" && !dm {
		thread = str("prospective_thread_id")
		fromProspective = thread != ""
	}
	slot := chatType
	if fromProspective {
		slot = "thread"
	}
	chat := str("chat_id")
	isolate := chat == ""
	if !dm {
		isolate = thread == ""
	}
	who := str("user_id_alt")
	if who == "" {
		who = str("user_id")
	}
	platform := str("platform")
	parts := []string{ns, platform, slot}
	if platform == "slack" {
		parts = append(parts, str("scope_id"))
	}
	parts = append(parts, chat)
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
