package adapter

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Prompt id and callback limits. Connectors decode a button press from the
// callback token "hp1:<prompt_id>:<option_id>", which platforms cap at 64
// bytes (Telegram's callback_data), and check both ids against the alphabet
// [A-Za-z0-9_.-] with at most 32 characters.
const (
	MaxIDLen       = 32
	MaxCallbackLen = 64
	CallbackPrefix = "hp1:"
)

// Errors of prompt id and option validation.
var (
	ErrBadID       = errors.New("id must be 1 to 32 characters of [A-Za-z0-9_.-]")
	ErrCallbackLen = errors.New("callback token hp1:<prompt_id>:<option_id> is over 64 bytes")
)

// ValidID reports whether id is a valid prompt or option id: 1 to 32
// characters of [A-Za-z0-9_.-].
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}

// CallbackToken returns the button callback "hp1:<promptID>:<optionID>",
// checking both ids and the 64-byte budget.
func CallbackToken(promptID, optionID string) (string, error) {
	if !ValidID(promptID) {
		return "", fmt.Errorf("prompt id %q: %w", promptID, ErrBadID)
	}
	if !ValidID(optionID) {
		return "", fmt.Errorf("option id %q: %w", optionID, ErrBadID)
	}
	tok := CallbackPrefix + promptID + ":" + optionID
	if len(tok) > MaxCallbackLen {
		return "", fmt.Errorf("%q: %w", tok, ErrCallbackLen)
	}
	return tok, nil
}

// ParseCallbackToken decodes "hp1:<prompt_id>:<option_id>", as a connector
// does; ok is false for anything else, including ids outside the alphabet.
func ParseCallbackToken(tok string) (promptID, optionID string, ok bool) {
	rest, found := strings.CutPrefix(tok, CallbackPrefix)
	if !found || len(tok) > MaxCallbackLen {
		return "", "", false
	}
	promptID, optionID, found = strings.Cut(rest, ":")
	if !found || !ValidID(promptID) || !ValidID(optionID) {
		return "", "", false
	}
	return promptID, optionID, true
}

// ValidateOptions checks the option ids of a prompt: each valid, none
// repeated, and each callback token within 64 bytes for promptID.
func ValidateOptions(promptID string, optionIDs []string) error {
	if len(optionIDs) == 0 {
		return errors.New("a prompt needs at least one option")
	}
	seen := make(map[string]bool, len(optionIDs))
	for _, id := range optionIDs {
		if seen[id] {
			return fmt.Errorf("option id %q is repeated", id)
		}
		seen[id] = true
		if _, err := CallbackToken(promptID, id); err != nil {
			return err
		}
	}
	return nil
}

// NonceLen is the length of a minted owner nonce: 3 random bytes in hex.
const NonceLen = 6

// NewNonce returns a fresh owner nonce of NonceLen lowercase hex
// characters.
func NewNonce() string { return randomHex(NonceLen / 2) }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("adapter: crypto/rand failed: " + err.Error()) // never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// MintPromptID returns a prompt id "<nonce>.<8 random hex>". nonce names
// the minting process, so another process that receives the press (a
// connector fans presses out to every gateway of a tenant) can tell the
// prompt is not its own.
func MintPromptID(nonce string) string { return nonce + "." + randomHex(4) }

// PromptOwner returns the nonce part of a prompt id, and false when the id
// has no "." (an id minted before owner nonces existed; the reference
// gateway treats those as its own).
func PromptOwner(promptID string) (nonce string, ok bool) {
	nonce, _, ok = strings.Cut(promptID, ".")
	return nonce, ok
}

// validNonce reports whether a configured nonce can head prompt ids: the
// id alphabet without ".", leaving room for ".<8 hex>" within 32.
func validNonce(n string) bool {
	return n != "" && len(n) <= MaxIDLen-9 && ValidID(n) && !strings.Contains(n, ".")
}
