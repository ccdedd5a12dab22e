package testkit

import (
	"bytes"
	"sync"
)

// Buffer collects what loggers and child processes write while a test
// reads it: a bytes.Buffer behind a mutex. The zero value is ready to use.
type Buffer struct {
	// Limit, when positive, is how many bytes Buffer keeps: later writes
	// are accepted and dropped, so a runaway log keeps its start, which is
	// what a failure message shows. Default 0: no limit.
	Limit int

	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p, within Limit. It never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Limit > 0 && b.b.Len()+len(p) > b.Limit {
		return len(p), nil
	}
	return b.b.Write(p)
}

// String returns everything kept so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
