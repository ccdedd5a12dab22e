package contract_test

import (
	"testing"

	"github.com/relaykit/relaykit/contract"
)

func TestURLDerivations(t *testing.T) {
	tests := []struct{ in, dial, base string }{
		{"https://c.example", "wss://c.example/relay", "https://c.example"},
		{"http://c.example:8080/", "ws://c.example:8080/relay", "http://c.example:8080"},
		{"wss://c.example/relay", "wss://c.example/relay", "https://c.example"},
		{"  wss://c.example/relay/  ", "wss://c.example/relay", "https://c.example"},
		{"c.example", "c.example/relay", "c.example"},
		{"ws://127.0.0.1:9/prefix", "ws://127.0.0.1:9/prefix/relay", "http://127.0.0.1:9/prefix"},
	}
	for _, tt := range tests {
		if got := contract.DialURL(tt.in); got != tt.dial {
			t.Errorf("DialURL(%q) = %q, want %q", tt.in, got, tt.dial)
		}
		if got := contract.DialURL(contract.DialURL(tt.in)); got != tt.dial {
			t.Errorf("DialURL not idempotent for %q: %q", tt.in, got)
		}
		if got := contract.BaseURL(tt.in); got != tt.base {
			t.Errorf("BaseURL(%q) = %q, want %q", tt.in, got, tt.base)
		}
	}
	if got := contract.ProvisionURL("wss://c.example/relay"); got != "https://c.example/relay/provision" {
		t.Errorf("ProvisionURL = %q", got)
	}
	if got := contract.MediaURL("https://c.example", "ab"); got != "https://c.example/relay/media/ab" {
		t.Errorf("MediaURL = %q", got)
	}
}
