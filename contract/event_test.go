package contract_test

import (
	"testing"

	"github.com/relaykit/relaykit/contract"
)

func TestDecodeEventMatchesKeysExactly(t *testing.T) {
	ev, err := contract.DecodeEvent([]byte(`{"TEXT":"loud","text":"hi","mediA":[{"url":"x"}],
		"source":{"chat_id":"x","CHAT_ID":"y","Chat_Id":"z","platform":"discord","chat_type":"group","User_ID":"evil",
		"note":"a \"CHAT_ID\": value is not a key"},"reply_to":{"Text":"q","text":"r"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Text != "hi" || ev.Source.ChatID != "x" || ev.Source.UserID != "" || len(ev.Media) != 0 || ev.ReplyTo.Text != "r" {
		t.Fatalf("look-alike keys were taken for fields: %+v", ev)
	}
	plain, err := contract.DecodeEvent([]byte(`{"text":"hi","message_id":"m","source":{"chat_id":"c","platform":"telegram"}}`))
	if err != nil || plain.Text != "hi" || plain.Source.MessageID != "m" || plain.Source.ChatType != "dm" {
		t.Fatalf("plain event: %+v %v", plain, err)
	}
}
