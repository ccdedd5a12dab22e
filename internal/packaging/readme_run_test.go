//go:build unix

package packaging

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// flowRun is one README flow running under bash in its own process group,
// so that what it leaves running in the background (relaysim, the echo
// gateway, the go run parents) is stopped with it.
type flowRun struct {
	cmd            *exec.Cmd
	stdout, stderr string // files
	done           chan error
}

func startFlow(t *testing.T, dir, name, script string) *flowRun {
	t.Helper()
	// The flows use fixed /tmp paths; each run gets its own.
	script = strings.ReplaceAll(script, "/tmp/", dir+"/")
	f := &flowRun{stdout: filepath.Join(dir, name+".stdout"), stderr: filepath.Join(dir, name+".stderr"), done: make(chan error, 1)}
	out, err := os.Create(f.stdout)
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(f.stderr)
	if err != nil {
		t.Fatal(err)
	}
	// Files, not pipes: background processes keep them open after bash
	// exits, and Wait must not wait for those.
	f.cmd = exec.Command("bash", "--noprofile", "--norc", "-c", script)
	f.cmd.Dir = root(t)
	f.cmd.Stdout, f.cmd.Stderr = out, errf
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out.Close()
	errf.Close()
	go func() { f.done <- f.cmd.Wait() }()
	t.Cleanup(f.stop)
	return f
}

// stop ends the flow's process group: SIGTERM (relaysim closes
// gracefully), then SIGKILL for anything left.
func (f *flowRun) stop() {
	pgid := f.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(-pgid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // waiting for exits, not asserting
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	<-f.done
	f.done <- nil // for a second stop
}

// wait waits for bash to exit, at most d. A flow whose relaysim could
// not listen would wait for its env block for ever: that fails at once.
func (f *flowRun) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case err := <-f.done:
			f.done <- err
			return err
		case <-deadline:
			t.Fatalf("flow still running after %s\nstdout:\n%s\nstderr:\n%s", d, f.read(f.stdout), f.read(f.stderr))
		case <-time.After(100 * time.Millisecond):
			if stderr := f.read(f.stderr); strings.Contains(stderr, "\nrelaysim: failed to listen") || strings.HasPrefix(stderr, "relaysim: failed to listen") {
				t.Fatalf("a process of the flow could not listen, as the port is taken:\n%s", stderr)
			}
		}
	}
}

func (f *flowRun) read(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// envBlock parses the KEY=value lines of a relaysim env block.
func envBlock(text string) map[string]string {
	env := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "GATEWAY_RELAY_") {
			env[k] = v
		}
	}
	return env
}

// checkNewRelaysim fails unless the env block names a relaysim other than
// the stand-in on 8765, and that relaysim answers its health route.
func checkNewRelaysim(t *testing.T, flow string, env map[string]string) {
	t.Helper()
	u, err := url.Parse(env["GATEWAY_RELAY_URL"])
	if err != nil || u.Port() == "" {
		t.Fatalf("%s: env block URL %q: %v", flow, env["GATEWAY_RELAY_URL"], err)
	}
	if u.Port() == "8765" {
		t.Fatalf("%s: relaysim claims 8765, which the stand-in holds", flow)
	}
	resp, err := http.Get("http://" + u.Host + "/_relaysim/health")
	if err != nil {
		t.Fatalf("%s: health of %s: %v", flow, u.Host, err)
	}
	defer resp.Body.Close()
	var h struct {
		Name string `json:"name"`
		OK   bool   `json:"ok"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || h.Name != "relaysim" || !h.OK {
		t.Fatalf("%s: health of %s: %v %+v", flow, u.Host, err, h)
	}
}

// TestReadmeFlowsWith8765Taken runs the README's quick start, its loop
// (relaysim, echo gateway, curl) and its conform flow, unchanged but for
// their /tmp paths, while a stand-in for a stale relaysim holds
// 127.0.0.1:8765 and answers every request with 200. Each flow must talk
// to the relaysim it started, on the free port that one took: the
// stand-in must see no request at all.
func TestReadmeFlowsWith8765Taken(t *testing.T) {
	needSlow(t)
	flows := readmeFlows(t)
	var hits atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:8765")
	if err != nil {
		// Another process holds 8765, which is the situation under test;
		// only the count of requests is lost.
		t.Logf("8765 is taken by another process already (%v): checking the flows against that", err)
	} else {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hits.Add(1) <= 3 {
				t.Logf("the stand-in on 8765 got %s %s", r.Method, r.URL)
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"name":"relaysim","ok":true,"outbound":[]}`))
		})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	dir := t.TempDir()

	t.Run("quickstart", func(t *testing.T) {
		f := startFlow(t, dir, "quickstart", flows["quickstart"])
		defer f.stop()
		deadline := time.Now().Add(5 * time.Minute) // a cold go run builds first
		for !strings.Contains(f.read(f.stdout), "GATEWAY_RELAY_PLATFORMS=") {
			select {
			case err := <-f.done:
				f.done <- err
				t.Fatalf("go run ./cmd/relaysim ended: %v\n%s", err, f.read(f.stderr))
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("no env block after 5 min:\n%s", f.read(f.stderr))
			}
		}
		checkNewRelaysim(t, "quickstart", envBlock(f.read(f.stdout)))
		if !strings.Contains(f.read(f.stderr), "default port taken") && ln != nil {
			t.Errorf("relaysim did not say that it moved off the taken port:\n%s", f.read(f.stderr))
		}
	})

	t.Run("loop", func(t *testing.T) {
		f := startFlow(t, dir, "loop", flows["loop"])
		defer f.stop()
		if err := f.wait(t, 5*time.Minute); err != nil {
			t.Fatalf("flow: %v\nstdout:\n%s\nstderr:\n%s", err, f.read(f.stdout), f.read(f.stderr))
		}
		checkNewRelaysim(t, "loop", envBlock(f.read(filepath.Join(dir, "relay.env"))))
		out := f.read(f.stdout)
		if !strings.Contains(out, `"delivery":"live"`) || !strings.Contains(out, `"content":"echo: hello"`) || !strings.Contains(out, `"answered":true`) {
			t.Errorf("the flow's curls did not show the injected message delivered live and its echo answered:\n%s", out)
		}
		// The capture of the echo gateway's session, fetched from this
		// relaysim, passes conform validate.
		if errs := f.read(f.stderr); !strings.Contains(errs, "no violations") {
			t.Errorf("conform validate of the flow's capture did not report a clean capture:\n%s", errs)
		}
		if !strings.Contains(out, "relaysim_sessions") {
			t.Errorf("the flow's metrics did not come from relaysim:\n%s", out)
		}
	})

	t.Run("conform-relaysim", func(t *testing.T) {
		f := startFlow(t, dir, "conform", flows["conform-relaysim"])
		defer f.stop()
		if err := f.wait(t, 8*time.Minute); err != nil {
			t.Fatalf("flow: %v\nstdout:\n%s\nstderr:\n%s", err, f.read(f.stdout), f.read(f.stderr))
		}
		env := envBlock(f.read(filepath.Join(dir, "conform-relay.env")))
		checkNewRelaysim(t, "conform", env)
		if want := "conform: connector suite against " + env["GATEWAY_RELAY_URL"] + "\n"; !strings.Contains(f.read(f.stderr), want) {
			t.Errorf("conform did not test the relaysim the flow started (%s):\n%s", env["GATEWAY_RELAY_URL"], f.read(f.stderr))
		}
		out := f.read(f.stdout)
		if !strings.Contains(out, "conformant") || strings.Contains(out, "non-conformant") {
			t.Errorf("conform connector against relaysim:\n%s", out)
		}
		t.Logf("conform against %s:%s", env["GATEWAY_RELAY_URL"], out)
	})

	if n := hits.Load(); n > 0 {
		t.Errorf("the stand-in on 8765 got %d requests: a README flow talked to it instead of the relaysim it started", n)
	}
}
