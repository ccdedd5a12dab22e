package soak_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/relaykit/relaykit/soak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(cleanup{m}) }

// cleanup removes the relaysim binary the tests built, once they ran.
type cleanup struct{ m *testing.M }

func (c cleanup) Run() int {
	code := c.m.Run()
	soak.RemoveBuiltRelaysim()
	return code
}
