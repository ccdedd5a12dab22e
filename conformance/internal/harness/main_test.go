package harness_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run on leaked goroutines. Ginkgo's interrupt handler
// lives for the whole process by design once a suite has run.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2"),
		goleak.IgnoreTopFunction("os/signal.signal_recv"),
	)
}
