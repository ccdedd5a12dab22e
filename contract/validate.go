package contract

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Violation is one way a frame or body breaks the contract.
type Violation struct {
	// Field is the dotted JSON path of the offending value, such as
	// "action.chat_id"; "" means the frame or body as a whole.
	Field string `json:"field"`
	// Requirement is the ID of the requirement broken, such as "OUT-004".
	Requirement string `json:"requirement"`
	// Message says what is wrong, in words.
	Message string `json:"message"`
}

func (v Violation) Error() string {
	if v.Field == "" {
		return fmt.Sprintf("[%s] %s", v.Requirement, v.Message)
	}
	return fmt.Sprintf("[%s] %s: %s", v.Requirement, v.Field, v.Message)
}

// Body kinds ValidateBody understands.
const (
	BodyProvisionRequest    = "provision_request"
	BodyProvisionResponse   = "provision_response"
	BodyEnrollRequest       = "enroll_request"
	BodyEnrollResponse      = "enroll_response"
	BodyPolicyRequest       = "policy_request"
	BodyMediaUploadResponse = "media_upload_response"
	BodyError               = "error"
)

// ValidateFrame checks one frame exactly as it was written, trailing newline
// included, and returns every violation in field order (nil when the frame
// is valid). Frames of an unknown type are valid as long as they are an
// object with a string type (TRN-004). Checks that need context, such as
// request-id uniqueness or whether an op was advertised, are the callers'.
func ValidateFrame(frame []byte) []Violation {
	var c checker
	body := frame
	switch {
	case len(frame) == 0 || frame[len(frame)-1] != '\n':
		c.add("", "TRN-002", "frame does not end with a newline")
	default:
		body = frame[:len(frame)-1]
	}
	if i := bytes.IndexByte(body, '\n'); i >= 0 {
		c.add("", "TRN-002", "frame contains a newline before its end")
	}
	if len(body) > MaxFrameSize {
		c.add("", "TRN-007", fmt.Sprintf("frame is %d bytes, over the %d-byte cap", len(body), MaxFrameSize))
	}
	if !utf8.Valid(body) {
		c.add("", "TRN-001", "frame is not valid UTF-8")
		return c.done()
	}
	m, ok := c.object(body, "TRN-001")
	if !ok {
		return c.done()
	}
	typ, ok := m["type"].(string)
	if !ok || typ == "" {
		c.add("type", "TRN-003", "missing or not a non-empty string")
		return c.done()
	}
	switch typ {
	case TypeHello:
		c.nonEmpty(m, "", "platform", "HS-001")
		c.str(m, "", "botId", "HS-001", true)
		if v, ok := m["command_manifest"]; ok {
			c.commandManifest(v)
		}
	case TypeOutbound:
		c.outbound(m)
	case TypeInterrupt:
		c.str(m, "", "session_key", "IN-004", true)
		if v, ok := m["reason"]; !ok {
			c.add("reason", "IN-004", "missing; it must be present, null when not given")
		} else if _, isStr := v.(string); v != nil && !isStr {
			c.add("reason", "IN-004", "must be a string or null, got "+kindOf(v))
		}
	case TypeGoingIdle:
		for k := range m {
			if k != "type" {
				c.add(k, "IDLE-001", "going_idle carries no fields besides type")
			}
		}
	case TypeInboundAck:
		c.nonEmpty(m, "", "bufferId", "IDLE-002")
	case TypeDescriptor:
		d, ok := m["descriptor"].(map[string]any)
		if !ok {
			c.add("descriptor", "HS-005", "missing or not an object")
			break
		}
		c.descriptor(d)
	case TypeInbound:
		c.inbound(m)
	case TypeOutboundResult:
		c.nonEmpty(m, "", "requestId", "OUT-007")
		r, ok := m["result"].(map[string]any)
		if !ok {
			c.add("result", "OUT-007", "missing or not an object")
			break
		}
		c.result(r, "result.")
	case TypeInterruptInbound:
		c.str(m, "", "session_key", "IN-005", true)
		c.str(m, "", "chat_id", "IN-005", true)
	case TypeGoingIdleAck:
	case TypePassthroughForward:
		c.bufferID(m, "IN-006")
		fw, ok := m["forward"].(map[string]any)
		if !ok {
			c.add("forward", "IN-006", "missing or not an object")
			break
		}
		c.forward(fw)
	}
	return c.done()
}

// ValidateBody checks an HTTP body of the given kind (one of the Body*
// constants) and returns every violation.
func ValidateBody(kind string, body []byte) []Violation {
	var c checker
	req := map[string]string{
		BodyProvisionRequest: "HTTP-001", BodyProvisionResponse: "HTTP-002",
		BodyEnrollRequest: "HTTP-003", BodyEnrollResponse: "HTTP-002",
		BodyPolicyRequest: "HTTP-004", BodyMediaUploadResponse: "HTTP-005",
		BodyError: "HTTP-006",
	}[kind]
	if req == "" {
		c.add("", "HTTP-006", "unknown body kind "+kind)
		return c.done()
	}
	m, ok := c.object(body, req)
	if !ok {
		return c.done()
	}
	switch kind {
	case BodyProvisionRequest:
		c.nonEmpty(m, "", "gatewayId", req)
		c.nonEmpty(m, "", "platform", req)
		c.str(m, "", "botId", req, true)
		c.str(m, "", "gatewayEndpoint", req, true)
		c.stringList(m, "", "routeKeys", req, true)
		for _, k := range []string{"instanceId", "wakeUrl"} {
			if _, ok := m[k]; ok {
				c.nonEmpty(m, "", k, req)
			}
		}
	case BodyProvisionResponse, BodyEnrollResponse:
		c.nonEmpty(m, "", "secret", req)
		c.nonEmpty(m, "", "gatewayId", req)
		c.str(m, "", "deliveryKey", req, true)
		c.str(m, "", "tenant", req, true)
		c.stringList(m, "", "routeKeys", req, false)
	case BodyEnrollRequest:
		c.nonEmpty(m, "", "enrollmentToken", req)
		c.nonEmpty(m, "", "gatewayId", req)
	case BodyPolicyRequest:
		c.nonEmpty(m, "", "platform", req)
		c.boolean(m, "", "requireAddress", req, true)
		c.boolean(m, "", "allowOtherBots", req, true)
		c.stringList(m, "", "freeResponseScopes", req, true)
	case BodyMediaUploadResponse:
		if id, ok := m["id"].(string); !ok {
			c.add("id", req, "missing or not a string")
		} else if !isLowerHex(id, 32) {
			c.add("id", req, "must be 32 lowercase hex characters (128 random bits)")
		}
		if n, ok := m["size"].(json.Number); !ok {
			c.add("size", req, "missing or not a number")
		} else if i, err := n.Int64(); err != nil || i < 0 {
			c.add("size", req, "must be a non-negative integer")
		}
	case BodyError:
		c.nonEmpty(m, "", "error", req)
	}
	return c.done()
}

var promptIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

type checker struct{ out []Violation }

func (c *checker) add(field, req, msg string) {
	c.out = append(c.out, Violation{Field: field, Requirement: req, Message: msg})
}

func (c *checker) done() []Violation {
	sort.SliceStable(c.out, func(i, j int) bool { return c.out[i].Field < c.out[j].Field })
	return c.out
}

func (c *checker) object(b []byte, req string) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		c.add("", req, "not valid JSON")
		return nil, false
	}
	// dec.More misses a stray closing bracket after the value ("{}}"), so
	// check the rest is only whitespace.
	if len(bytes.TrimSpace(b[dec.InputOffset():])) > 0 {
		c.add("", req, "more than one JSON value, or trailing bytes after it")
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		c.add("", req, "not a JSON object, got "+kindOf(v))
		return nil, false
	}
	return m, true
}

func (c *checker) str(m map[string]any, prefix, k, req string, required bool) (string, bool) {
	v, present := m[k]
	if !present {
		if required {
			c.add(prefix+k, req, "missing")
		}
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		c.add(prefix+k, req, "must be a string, got "+kindOf(v))
		return "", false
	}
	return s, true
}

func (c *checker) nonEmpty(m map[string]any, prefix, k, req string) (string, bool) {
	s, ok := c.str(m, prefix, k, req, true)
	if ok && s == "" {
		c.add(prefix+k, req, "must not be empty")
		return "", false
	}
	return s, ok
}

func (c *checker) boolean(m map[string]any, prefix, k, req string, required bool) {
	v, present := m[k]
	if !present {
		if required {
			c.add(prefix+k, req, "missing")
		}
		return
	}
	if _, ok := v.(bool); !ok {
		c.add(prefix+k, req, "must be a boolean, got "+kindOf(v))
	}
}

func (c *checker) integer(m map[string]any, prefix, k, req string, required bool) (int64, bool) {
	v, present := m[k]
	if !present {
		if required {
			c.add(prefix+k, req, "missing")
		}
		return 0, false
	}
	n, ok := v.(json.Number)
	if !ok {
		c.add(prefix+k, req, "must be an integer, got "+kindOf(v))
		return 0, false
	}
	i, err := n.Int64()
	if err != nil {
		c.add(prefix+k, req, "must be an integer, got "+n.String())
		return 0, false
	}
	return i, true
}

func (c *checker) stringList(m map[string]any, prefix, k, req string, required bool) {
	v, present := m[k]
	if !present {
		if required {
			c.add(prefix+k, req, "missing")
		}
		return
	}
	list, ok := v.([]any)
	if !ok {
		c.add(prefix+k, req, "must be a list of strings, got "+kindOf(v))
		return
	}
	for i, item := range list {
		if _, ok := item.(string); !ok {
			c.add(fmt.Sprintf("%s%s.%d", prefix, k, i), req, "must be a string, got "+kindOf(item))
		}
	}
}

func (c *checker) bufferID(m map[string]any, req string) {
	if _, ok := m["bufferId"]; ok {
		c.nonEmpty(m, "", "bufferId", req)
	}
}

func (c *checker) commandManifest(v any) {
	list, ok := v.([]any)
	if !ok {
		c.add("command_manifest", "HS-002", "must be a list, got "+kindOf(v))
		return
	}
	for i, item := range list {
		p := fmt.Sprintf("command_manifest.%d.", i)
		cmd, ok := item.(map[string]any)
		if !ok {
			c.add(strings.TrimSuffix(p, "."), "HS-002", "must be an object, got "+kindOf(item))
			continue
		}
		c.str(cmd, p, "name", "HS-002", true)
		c.str(cmd, p, "description", "HS-002", true)
		if o, ok := cmd["options"]; ok {
			if _, isList := o.([]any); !isList {
				c.add(p+"options", "HS-002", "must be a list, got "+kindOf(o))
			}
		}
	}
}

func (c *checker) outbound(m map[string]any) {
	if id, ok := c.nonEmpty(m, "", "requestId", "OUT-001"); ok && !isLowerHex(id, 32) {
		c.add("requestId", "OUT-002", "should be 32 lowercase hex characters")
	}
	platform, hasPlatform := c.str(m, "", "platform", "OUT-005", false)
	if _, hasBot := c.str(m, "", "botId", "OUT-005", false); hasBot && (!hasPlatform || platform == "") {
		c.add("botId", "OUT-005", "botId is sent only together with platform")
	}
	a, ok := m["action"].(map[string]any)
	if !ok {
		c.add("action", "OUT-003", "missing or not an object")
		return
	}
	op, ok := c.str(a, "action.", "op", "OUT-003", true)
	if !ok {
		return
	}
	if !IsKnownOp(op) {
		c.add("action.op", "OUT-003", fmt.Sprintf("unknown op %q", op))
		return
	}
	c.action(op, a)
}

// action checks the keys op requires by the op table (OUT-004) and the
// value rules of OUT-023, OUT-024 and OUT-028.
func (c *checker) action(op string, a map[string]any) {
	const p, req = "action.", "OUT-004"
	need := func(keys ...string) {
		for _, k := range keys {
			c.str(a, p, k, req, true)
		}
	}
	if op != OpFollowUp {
		need("chat_id")
	}
	if op != OpGetChatInfo {
		if v, ok := a["metadata"]; !ok {
			c.add(p+"metadata", req, "missing")
		} else if meta, isObj := v.(map[string]any); !isObj {
			c.add(p+"metadata", req, "must be an object, got "+kindOf(v))
		} else {
			for k := range meta {
				if strings.HasPrefix(k, "_") {
					c.add(p+"metadata."+k, "OUT-028", "gateway-internal keys starting with _ must be removed")
				}
			}
		}
	}
	replyTo := func() {
		v, ok := a["reply_to"]
		if !ok {
			c.add(p+"reply_to", req, "missing; it must be present, null when not replying")
			return
		}
		if _, isStr := v.(string); v != nil && !isStr {
			c.add(p+"reply_to", req, "must be a string or null, got "+kindOf(v))
		}
	}
	switch op {
	case OpSend:
		need("content")
		replyTo()
	case OpEdit:
		need("message_id", "content")
	case OpTyping:
		c.str(a, p, "content", req, false)
	case OpFollowUp:
		need("session_key", "kind", "content")
	case OpGetChatInfo:
	case OpDraft:
		c.integer(a, p, "draft_id", req, true)
		need("content")
		c.boolean(a, p, "final", req, true)
	case OpTaskCard:
		need("card_id")
		if v, ok := a["chunks"]; !ok {
			c.add(p+"chunks", req, "missing")
		} else if _, isList := v.([]any); !isList {
			c.add(p+"chunks", req, "must be a list, got "+kindOf(v))
		}
	case OpTaskCardStop:
		need("card_id")
	case OpDelete:
		need("message_id")
	case OpSendMedia:
		if k, ok := c.str(a, p, "media_kind", req, true); ok && !oneOf(k, MediaKinds) {
			c.add(p+"media_kind", "OUT-023", fmt.Sprintf("must be one of %s, got %q", strings.Join(MediaKinds, ", "), k))
		}
		if u, ok := c.str(a, p, "source_url", req, true); ok && !isHTTPURL(u) {
			c.add(p+"source_url", "OUT-023", "must be an http or https URL")
		}
		need("content")
		replyTo()
		c.str(a, p, "filename", req, false)
	case OpPrompt:
		need("content")
		if k, ok := c.str(a, p, "prompt_kind", req, true); ok && !oneOf(k, PromptKinds) {
			c.add(p+"prompt_kind", "OUT-024", fmt.Sprintf("must be one of %s, got %q", strings.Join(PromptKinds, ", "), k))
		}
		promptID, ok := c.str(a, p, "prompt_id", req, true)
		if ok && !promptIDPattern.MatchString(promptID) {
			c.add(p+"prompt_id", "OUT-024", "must be 1-32 characters of [A-Za-z0-9_.-]")
		}
		c.promptOptions(a, promptID)
		replyTo()
		if v, ok := a["timeout_s"]; ok {
			if _, isNum := v.(json.Number); !isNum {
				c.add(p+"timeout_s", req, "must be a number, got "+kindOf(v))
			}
		}
	case OpReact:
		need("message_id", "emoji")
		c.boolean(a, p, "remove", req, true)
	case OpThreadCreate:
		c.threadName(a)
	case OpThreadRename:
		need("message_id")
		c.threadName(a)
		c.boolean(a, p, "only_if_connector_created", req, false)
		c.str(a, p, "only_if_current_name", req, false)
	}
}

// isHTTPURL reports whether u is an absolute http or https URL with a host.
func isHTTPURL(u string) bool {
	parsed, err := url.Parse(u)
	return err == nil && (parsed.Scheme == "http" || parsed.Scheme == "https") && parsed.Host != ""
}

func (c *checker) threadName(a map[string]any) {
	if name, ok := c.str(a, "action.", "thread_name", "OUT-004", true); ok && utf8.RuneCountInString(name) > 100 {
		c.add("action.thread_name", "OUT-004", "must be at most 100 characters")
	}
}

// CallbackToken returns the button callback of a prompt option,
// "hp1:<prompt_id>:<option_id>", which must fit in MaxCallbackToken bytes.
func CallbackToken(promptID, optionID string) string {
	return "hp1:" + promptID + ":" + optionID
}

// MaxCallbackToken is the byte limit of a prompt callback token.
const MaxCallbackToken = 64

func (c *checker) promptOptions(a map[string]any, promptID string) {
	v, ok := a["options"]
	if !ok {
		c.add("action.options", "OUT-004", "missing")
		return
	}
	list, ok := v.([]any)
	if !ok {
		c.add("action.options", "OUT-004", "must be a list, got "+kindOf(v))
		return
	}
	for i, item := range list {
		p := fmt.Sprintf("action.options.%d.", i)
		o, ok := item.(map[string]any)
		if !ok {
			c.add(strings.TrimSuffix(p, "."), "OUT-004", "must be an object, got "+kindOf(item))
			continue
		}
		if id, ok := c.str(o, p, "id", "OUT-004", true); ok {
			if !promptIDPattern.MatchString(id) {
				c.add(p+"id", "OUT-024", "must be 1-32 characters of [A-Za-z0-9_.-]")
			} else if len(CallbackToken(promptID, id)) > MaxCallbackToken {
				c.add(p+"id", "OUT-024", fmt.Sprintf("hp1:<prompt_id>:<option_id> must fit in %d bytes", MaxCallbackToken))
			}
		}
		c.str(o, p, "label", "OUT-004", true)
		if s, ok := c.str(o, p, "style", "OUT-004", false); ok && !oneOf(s, []string{"primary", "success", "danger", "secondary"}) {
			c.add(p+"style", "OUT-024", fmt.Sprintf("must be primary, success, danger or secondary, got %q", s))
		}
	}
}

func (c *checker) descriptor(d map[string]any) {
	const p = "descriptor."
	for _, k := range []string{"platform", "label", "markdown_dialect", "len_unit"} {
		c.str(d, p, k, "HS-006", true)
	}
	for _, k := range []string{"supports_draft_streaming", "supports_edit", "supports_threads"} {
		c.boolean(d, p, k, "HS-006", true)
	}
	if v, ok := d["contract_version"]; !ok {
		c.add(p+"contract_version", "HS-006", "missing")
	} else if n, isNum := v.(json.Number); !isNum {
		c.add(p+"contract_version", "HS-007", "must be an integer, got "+kindOf(v))
	} else if i, err := n.Int64(); err != nil || i < 1 {
		c.add(p+"contract_version", "HS-007", "must be an integer >= 1, got "+n.String())
	}
	if v, ok := d["max_message_length"]; !ok {
		c.add(p+"max_message_length", "HS-006", "missing")
	} else if n, isNum := v.(json.Number); !isNum {
		c.add(p+"max_message_length", "HS-009", "must be an integer, got "+kindOf(v))
	} else if _, err := n.Int64(); err != nil {
		c.add(p+"max_message_length", "HS-009", "must be an integer, got "+n.String())
	}
	if u, ok := d["len_unit"].(string); ok && u != LenUnitChars && u != LenUnitUTF16 {
		c.add(p+"len_unit", "HS-008", fmt.Sprintf("must be chars or utf16, got %q", u))
	}
	for _, k := range []string{"emoji", "platform_hint"} {
		c.str(d, p, k, "HS-006", false)
	}
	for _, k := range []string{"pii_safe", "supports_context", "supports_inchannel_continuable", "supports_block_formatting"} {
		c.boolean(d, p, k, "HS-006", false)
	}
	if v, ok := d["supported_ops"]; ok {
		list, isList := v.([]any)
		if !isList {
			c.add(p+"supported_ops", "HS-006", "must be a list of strings, got "+kindOf(v))
			return
		}
		seen := map[string]bool{}
		for i, item := range list {
			f := fmt.Sprintf("%ssupported_ops.%d", p, i)
			s, ok := item.(string)
			switch {
			case !ok:
				c.add(f, "HS-006", "must be a string, got "+kindOf(item))
			case !IsKnownOp(s):
				c.add(f, "HS-010", fmt.Sprintf("unknown op %q", s))
			case seen[s]:
				c.add(f, "HS-010", fmt.Sprintf("op %q listed twice", s))
			}
			seen[s] = true
		}
		if seen[OpTaskCard] && !seen[OpTaskCardStop] {
			c.add(p+"supported_ops", "HS-023", "task_card is listed without task_card_stop")
		}
	}
}

func (c *checker) inbound(m map[string]any) {
	c.bufferID(m, "IN-001")
	ev, ok := m["event"].(map[string]any)
	if !ok {
		c.add("event", "IN-001", "missing or not an object")
		return
	}
	if t, ok := c.str(ev, "event.", "message_type", "IN-003", false); ok && !oneOf(t, MessageTypes) {
		c.add("event.message_type", "IN-003", fmt.Sprintf("should be one of %s, got %q", strings.Join(MessageTypes, " "), t))
	}
	c.str(ev, "event.", "text", "IN-002", false)
	src, ok := ev["source"].(map[string]any)
	if !ok {
		c.add("event.source", "IN-002", "missing or not an object")
		return
	}
	const p = "event.source."
	for _, k := range []string{"platform", "chat_id", "chat_type", "user_id"} {
		c.str(src, p, k, "IN-002", true)
	}
	if t, ok := src["chat_type"].(string); ok && !oneOf(t, ChatTypes) {
		c.add(p+"chat_type", "IN-002", fmt.Sprintf("must be one of %s, got %q", strings.Join(ChatTypes, ", "), t))
	}
	for _, k := range []string{"chat_name", "user_display_name", "user_name", "user_handle", "thread_id",
		"chat_topic", "user_id_alt", "chat_id_alt", "scope_id", "parent_chat_id", "message_id",
		"profile", "auto_thread_initial_name", "prospective_thread_id"} {
		if v, ok := src[k]; ok && v != nil {
			c.str(src, p, k, "IN-002", false)
		}
	}
}

func (c *checker) result(r map[string]any, p string) {
	v, ok := r["success"]
	if !ok {
		c.add(p+"success", "OUT-007", "missing")
		return
	}
	success, ok := v.(bool)
	if !ok {
		c.add(p+"success", "OUT-007", "must be a boolean, got "+kindOf(v))
		return
	}
	if _, ok := r["message_id"]; ok && r["message_id"] != nil {
		c.str(r, p, "message_id", "OUT-010", false)
	}
	if !success {
		if _, ok := r["error"]; !ok {
			c.add(p+"error", "OUT-008", "a failed result should carry an error string")
		}
	}
	if _, ok := r["error"]; ok {
		c.str(r, p, "error", "OUT-008", false)
	}
	if code, ok := c.str(r, p, "code", "OUT-008", false); ok && !oneOf(code, ResultCodes) {
		c.add(p+"code", "OUT-008", fmt.Sprintf("unknown code %q", code))
	}
	if code, _ := r["code"].(string); code == CodeEgressDeclined {
		if success {
			c.add(p+"success", "OUT-011", "an egress decline is a failure")
		}
		if amb, _ := r["ambiguous"].(bool); amb {
			c.add(p+"ambiguous", "OUT-011", "an egress decline is never ambiguous")
		}
	}
}

func (c *checker) forward(fw map[string]any) {
	const p, req = "forward.", "IN-006"
	for _, k := range []string{"method", "path", "platform", "botId"} {
		c.str(fw, p, k, req, true)
	}
	if v, ok := fw["headers"]; !ok {
		c.add(p+"headers", req, "missing")
	} else if list, isList := v.([]any); !isList {
		c.add(p+"headers", req, "must be a list of [name, value] pairs, got "+kindOf(v))
	} else {
		for i, h := range list {
			pair, ok := h.([]any)
			if !ok || len(pair) != 2 {
				c.add(fmt.Sprintf("%sheaders.%d", p, i), req, "must be a [name, value] pair")
				continue
			}
			for j, part := range pair {
				if _, ok := part.(string); !ok {
					c.add(fmt.Sprintf("%sheaders.%d.%d", p, i, j), req, "must be a string, got "+kindOf(part))
				}
			}
		}
	}
	if s, ok := c.str(fw, p, "bodyB64", req, true); ok {
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			c.add(p+"bodyB64", req, "must be standard base64")
		}
	}
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
