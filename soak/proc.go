package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BuildRelaysim builds cmd/relaysim into dir and returns the binary's
// path, for Config.Relaysim. With race the binary has the race detector,
// and a race it reports is a soak violation.
func BuildRelaysim(ctx context.Context, dir string, race bool) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("soak: the go command is needed to build relaysim: %w", err)
	}
	bin := filepath.Join(dir, "relaysim")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "github.com/relaykit/relaykit/cmd/relaysim")
	out, err := exec.CommandContext(ctx, goBin, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("soak: go build relaysim: %w\n%s", err, out)
	}
	return bin, nil
}

// child is one relaysim process on the soak's file store.
type child struct {
	cmd     *exec.Cmd
	started time.Time
	ready   chan string   // the base URL, once it logged "ready"
	exited  chan struct{} // closed when the process is gone
	waitErr error

	retired sync.Once // its races are counted once

	mu      sync.Mutex
	tail    []string // its last stderr lines that are not routine
	stopped bool     // we signalled it
	races   int
	torn    int // torn final records its store dropped at open
	debris  int // compaction and media temp files it removed at open
}

// childFlags are the relaysim flags matching Run's in-process options.
func childFlags(storePath string, deviations []string) []string {
	args := []string{
		"--addr", "127.0.0.1:0", "--store", "file:" + storePath, "--gateway-id=", "--print-env=false",
		"--log-format", "json", "--log-level", "info",
		"--ping-interval", "3s", "--ping-timeout", "10s", "--handshake-timeout", "5s", "--drain-window", "16",
	}
	if len(deviations) > 0 {
		args = append(args, "--deviate", strings.Join(deviations, ","))
	}
	return args
}

// startChild starts bin with args; the process's stderr is watched for
// its ready line, races and store events.
func startChild(bin string, args []string) (*child, error) {
	c := &child{ready: make(chan string, 1), exited: make(chan struct{})}
	cmd := exec.Command(bin, args...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RELAYSIM_") { // the flags say everything
			env = append(env, kv)
		}
	}
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	c.cmd = cmd
	c.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("soak: failed to start relaysim: %w", err)
	}
	go func() {
		c.watch(stderr)
		c.waitErr = cmd.Wait() // after the pipe is drained, as Wait requires
		close(c.exited)
	}()
	return c, nil
}

// watch reads the child's stderr until it closes.
func (c *child) watch(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var rec struct {
			Msg string `json:"msg"`
			URL string `json:"url"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg != "" {
			switch {
			case rec.Msg == "relaysim: ready":
				select {
				case c.ready <- rec.URL:
				default:
				}
				continue
			case strings.Contains(rec.Msg, "dropped a torn final record"):
				c.mu.Lock()
				c.torn++
				c.mu.Unlock()
			case strings.Contains(rec.Msg, "crash interrupted"):
				c.mu.Lock()
				c.debris++
				c.mu.Unlock()
				continue
			case strings.HasPrefix(rec.Msg, "relaysim: shutting down"):
				continue
			}
		}
		c.mu.Lock()
		if strings.Contains(line, "WARNING: DATA RACE") {
			c.races++
		}
		c.tail = append(c.tail, line)
		if len(c.tail) > 200 {
			c.tail = append(c.tail[:0], c.tail[100:]...)
		}
		c.mu.Unlock()
	}
	io.Copy(io.Discard, r)
}

// stderrTail returns the child's last notable stderr lines.
func (c *child) stderrTail(n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tail
	if len(t) > n {
		t = t[len(t)-n:]
	}
	return strings.Join(t, "\n")
}

// awaitReady waits for the ready line, the process's exit, or d.
func (c *child) awaitReady(d time.Duration) (string, error) {
	select {
	case u := <-c.ready:
		return u, nil
	case <-c.exited:
		return "", fmt.Errorf("relaysim exited before it was ready (%v):\n%s", c.waitErr, c.stderrTail(20))
	case <-time.After(d):
		return "", fmt.Errorf("relaysim was not ready after %s:\n%s", d, c.stderrTail(20))
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *child) kill() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// terminate sends SIGTERM, relaysim's graceful shutdown, and waits up to
// d; a process still running then is killed and reported.
func (c *child) terminate(d time.Duration) error {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(d):
		c.cmd.Process.Signal(syscall.SIGKILL)
		<-c.exited
		return fmt.Errorf("relaysim did not stop within %s of SIGTERM:\n%s", d, c.stderrTail(20))
	}
	if c.waitErr != nil {
		return fmt.Errorf("relaysim exited with %v after SIGTERM:\n%s", c.waitErr, c.stderrTail(20))
	}
	return nil
}

// died reports an exit nobody asked for.
func (c *child) died() (bool, error) {
	select {
	case <-c.exited:
	default:
		return false, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.stopped, c.waitErr
}

func (c *child) stats() (races, torn, debris int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.races, c.torn, c.debris
}
