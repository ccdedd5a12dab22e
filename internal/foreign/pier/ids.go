package pier

import (
	"crypto/rand"
	"strconv"
)

// Ids pier mints. None is hex and none looks like the platform ids a
// gateway test would invent: pier is its own platform and names its own
// messages, threads and buffer entries.
//
//	message  pm.<seq base 36>.<boot>     e.g. pm.1z.kqvx
//	thread   th.<seq base 36>.<boot>     e.g. th.3.kqvx
//	buffer   q<seq base 36>@<instance>   e.g. q7@c  (unique per instance)
//	secret   ps_<32 base-32 letters>
//
// boot is four random letters drawn when the server starts, so ids of two
// runs never collide.

const idLetters = "abcdefghijklmnopqrstuvwxyz234567"

func randomLetters(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idLetters[int(b[i])%len(idLetters)]
	}
	return string(b)
}

func b36(n uint64) string { return strconv.FormatUint(n, 36) }

func newSecret() string { return "ps_" + randomLetters(32) }
