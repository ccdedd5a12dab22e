package client

import (
	"context"
	"fmt"
	"sync"
)

// pipeline is the one path every inbound delivery takes: admission, then
// handling, both off the reader. Deliveries are grouped in lanes (one per
// session key, or "passthrough:<platform>"), and a lane has at most one
// admission and one handler running, each in arrival order; lanes run
// concurrently. Admission runs ahead of handling, so a lane admits (and
// acks) what arrives while its handler is still busy. Goroutines exist only
// while a lane has work, so idle sessions cost nothing.
type pipeline struct {
	base  context.Context // parent of handler contexts; cancelled by Close
	slots chan struct{}   // bounds the jobs in the pipeline, queued or running

	mu    sync.Mutex
	lanes map[string]*lane
	wg    sync.WaitGroup
}

// lane is the work of one session key.
type lane struct {
	key       string
	admitQ    []*job // waiting for admission
	runQ      []*job // admitted, waiting for their handler
	admitting bool
	running   bool
	cancel    context.CancelCauseFunc // of the running handler
}

// job is one delivery in the pipeline.
type job struct {
	// admit decides admission and names the lane that handles the job;
	// ok false ends the job (refused, or admitted with nothing to handle).
	// nil means the handler itself admits (Handler without Admitter).
	admit func(ctx context.Context) (lane string, ok bool)
	// run handles the job.
	run func(ctx context.Context)
	// drop forgets a job Close removed before it ran.
	drop func()
}

func newPipeline(base context.Context, max int) *pipeline {
	return &pipeline{base: base, slots: make(chan struct{}, max), lanes: map[string]*lane{}}
}

// acquire takes a slot, blocking the reader when the pipeline is full; it
// gives up when the connection is being closed.
func (p *pipeline) acquire(abort <-chan struct{}) bool {
	select {
	case p.slots <- struct{}{}:
		return true
	default:
	}
	select {
	case p.slots <- struct{}{}:
		return true
	case <-abort:
		return false
	case <-p.base.Done():
		return false
	}
}

// release gives a finished job's slot back.
func (p *pipeline) release() { <-p.slots }

// submit queues j, which holds a slot, on the lane of key.
func (p *pipeline) submit(key string, j *job) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.lane(key)
	if j.admit == nil {
		p.queueRun(l, j)
		return
	}
	l.admitQ = append(l.admitQ, j)
	if !l.admitting {
		l.admitting = true
		p.wg.Add(1)
		go p.admitLoop(l)
	}
}

// lane returns the lane of key, creating it. p.mu is held.
func (p *pipeline) lane(key string) *lane {
	l := p.lanes[key]
	if l == nil {
		l = &lane{key: key}
		p.lanes[key] = l
	}
	return l
}

// queueRun appends an admitted job to l's handler queue. p.mu is held.
func (p *pipeline) queueRun(l *lane, j *job) {
	l.runQ = append(l.runQ, j)
	if !l.running {
		l.running = true
		p.wg.Add(1)
		go p.runLoop(l)
	}
}

// retire deletes l once it has nothing queued or running. p.mu is held.
func (p *pipeline) retire(l *lane) {
	if !l.admitting && !l.running && len(l.admitQ) == 0 && len(l.runQ) == 0 && p.lanes[l.key] == l {
		delete(p.lanes, l.key)
	}
}

// admitLoop admits l's queued jobs in order, then exits.
func (p *pipeline) admitLoop(l *lane) {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		if len(l.admitQ) == 0 {
			l.admitting = false
			p.retire(l)
			p.mu.Unlock()
			return
		}
		j := l.admitQ[0]
		l.admitQ[0] = nil
		l.admitQ = l.admitQ[1:]
		p.mu.Unlock()

		if p.base.Err() != nil {
			// After Close the rest is dropped unadmitted; buffered ones
			// replay on the next run.
			j.drop()
			p.release()
			continue
		}
		key, ok := j.admit(p.base)
		if !ok {
			p.release()
			continue
		}
		p.mu.Lock()
		p.queueRun(p.lane(key), j)
		p.mu.Unlock()
	}
}

// runLoop runs l's admitted jobs one at a time, in order, then exits.
func (p *pipeline) runLoop(l *lane) {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		if len(l.runQ) == 0 {
			l.running = false
			p.retire(l)
			p.mu.Unlock()
			return
		}
		j := l.runQ[0]
		l.runQ[0] = nil
		l.runQ = l.runQ[1:]
		ctx, cancel := context.WithCancelCause(p.base)
		l.cancel = cancel
		p.mu.Unlock()

		if p.base.Err() == nil {
			j.run(ctx)
		} else {
			j.drop()
		}
		p.mu.Lock()
		l.cancel = nil
		p.mu.Unlock()
		cancel(nil)
		p.release()
	}
}

// interrupt cancels the running handler of the lane of key, if any, with
// cause ErrInterrupted. Jobs queued behind it still run.
func (p *pipeline) interrupt(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.lanes[key]; l != nil && l.cancel != nil {
		l.cancel(ErrInterrupted)
	}
}

// goTracked runs fn on its own goroutine, counted for wait.
func (p *pipeline) goTracked(fn func(context.Context)) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		fn(p.base)
	}()
}

// wait blocks until every admission and handler returned or ctx ends.
func (p *pipeline) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("failed to wait for handlers: %w", ctx.Err())
	}
}
