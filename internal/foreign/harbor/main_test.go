package harbor

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run on leaked goroutines. net/http lingers up to
// 500 ms after answering a request whose body it did not read (the 413 for
// an oversized upload) to let the client see the answer; that goroutine
// ends by itself.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait"))
}
