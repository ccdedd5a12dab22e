package simulator

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// PressRequest presses one option of a prompt the gateway sent: what a
// platform user does by tapping a button of a rendered prompt.
type PressRequest struct {
	GatewayID string `json:"gatewayId"`
	// MessageID is the message_id the simulator answered the prompt
	// action with: it names the rendered prompt.
	MessageID string `json:"messageId"`
	// OptionID is the id of the option pressed.
	OptionID string `json:"optionId"`
	// UserID is who pressed; default "user-1".
	UserID string `json:"userId,omitempty"`
	// ChatType is the chat's type in the event's source; default "dm".
	ChatType string `json:"chatType,omitempty"`
}

// PressPrompt delivers the press of req's option as an inbound event with a
// prompt_response (IN-013) carrying the prompt's prompt_id, the option's id
// and label and the prompt's message id, in the chat the prompt was sent
// to, by the route InjectEvent takes. It answers a *RequestError naming the
// field when the gateway, the prompt or the option is unknown.
func (s *Server) PressPrompt(req PressRequest) (Delivery, error) {
	if req.MessageID == "" {
		return Delivery{}, badRequest("messageId", "missing")
	}
	if req.OptionID == "" {
		return Delivery{}, badRequest("optionId", "missing")
	}
	if _, ok := s.gatewayRecord(req.GatewayID); !ok {
		return Delivery{}, unknownGateway(req.GatewayID)
	}
	var prompt struct {
		ChatID   string                  `json:"chat_id"`
		PromptID string                  `json:"prompt_id"`
		Options  []contract.PromptOption `json:"options"`
	}
	var platform string
	found := false
	for _, rec := range s.Outbound(req.GatewayID) {
		var res contract.Result
		if rec.Op != contract.OpPrompt || !rec.Answered || json.Unmarshal(rec.Result, &res) != nil ||
			!res.Success || res.MessageID != req.MessageID {
			continue
		}
		if err := json.Unmarshal(rec.Action, &prompt); err != nil {
			return Delivery{}, badRequest("messageId", "the prompt sent as %s is not readable: %v", req.MessageID, err)
		}
		platform, found = rec.ResolvedPlatform, true
	}
	if !found {
		return Delivery{}, &RequestError{Status: http.StatusNotFound, Field: "messageId",
			Message: fmt.Sprintf("gateway %q has no answered prompt with message_id %q", req.GatewayID, req.MessageID)}
	}
	label, ok := "", false
	for _, o := range prompt.Options {
		if o.ID == req.OptionID {
			label, ok = o.Label, true
		}
	}
	if !ok {
		return Delivery{}, badRequest("optionId", "%q is not an option of prompt %s", req.OptionID, prompt.PromptID)
	}
	user, chatType := req.UserID, req.ChatType
	if user == "" {
		user = "user-1"
	}
	if chatType == "" {
		chatType = "dm"
	}
	msgID := s.newMessageID()
	src := map[string]any{"platform": platform, "chat_id": prompt.ChatID, "chat_type": chatType, "user_id": user, "message_id": msgID}
	ev := map[string]any{"message_id": msgID, "source": src}
	if s.deviations().Has(deviation.SimPressRawCallback) {
		// The button's callback token as plain text, undecoded.
		ev["text"], ev["message_type"] = "hp1:"+prompt.PromptID+":"+req.OptionID, "text"
	} else {
		ev["text"], ev["message_type"] = label, "command"
		ev["prompt_response"] = map[string]any{"prompt_id": prompt.PromptID, "option_id": req.OptionID, "label": label, "prompt_message_id": req.MessageID}
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return Delivery{}, err
	}
	return s.InjectEvent(InjectRequest{GatewayID: req.GatewayID, Event: b})
}
