package consoletest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

// Environment knobs of the browser tests (doc.go).
const (
	envRequired   = "RELAYKIT_BROWSER_TESTS" // "required": no browser is a failure
	envChromium   = "RELAYKIT_CHROMIUM"      // the browser binary
	envScreenshot = "RELAYKIT_CONSOLE_SCREENSHOT"
)

var tmpDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "consoletest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tmpDir = dir
	code := 0
	func() {
		defer func() {
			if err := goleak.Find(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				code = 1
			}
		}()
		code = m.Run()
		stopChrome()
	}()
	os.RemoveAll(dir)
	os.Exit(code)
}

// chromium finds the browser, or skips the test (fails it under
// RELAYKIT_BROWSER_TESTS=required) when there is none.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(envChromium); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", envChromium, p, err)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found (looked for chromium, chromium-browser, google-chrome on PATH and /usr/bin/chromium): " +
		"the console's browser tests need one (Debian: apt-get install chromium; or set " + envChromium + ")"
	if os.Getenv(envRequired) == "required" {
		t.Fatal(msg + "; " + envRequired + "=required makes this a failure")
	}
	t.Skip(msg + "; skipped (set " + envRequired + "=required to fail instead)")
	return ""
}

var (
	buildOnce sync.Once
	echoBin   string
	buildErr  error
)

// echogateway builds examples/echogateway once per test binary.
func echogateway(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		echoBin = filepath.Join(tmpDir, "echogateway")
		gobin := "go" // from PATH, as go test itself was run
		out, err := exec.Command(gobin, "build", "-o", echoBin, "../../examples/echogateway").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build examples/echogateway: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return echoBin
}

// startGateway runs examples/echogateway against s as gatewayID and waits
// until it is ready; the process is killed at cleanup.
func startGateway(t *testing.T, s *simulator.Server, gatewayID string) {
	t.Helper()
	env, err := s.Env(gatewayID)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	cmd := exec.Command(echogateway(t))
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "HERMES_HOME=" + home,
		// Re-dial quickly after a refusal or going dormant (the testee
		// contract's timer knobs), so the tests wait little.
		"RELAYKIT_BACKOFF_BASE=50ms", "RELAYKIT_BACKOFF_CAP=200ms"},
		strings.Split(strings.TrimSpace(env), "\n")...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logs strings.Builder
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			logs.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if strings.Contains(sc.Text(), "echo gateway ready") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("echogateway stderr:\n%s", logs.String())
			mu.Unlock()
		}
	})
	select {
	case <-ready:
	case <-done:
		t.Fatal("echogateway exited before it was ready")
	case <-time.After(testkit.SlowWait):
		t.Fatal("echogateway not ready in time")
	}
}

// browser is one tab of the headless Chromium the tests share.
type browser struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	errors []string // uncaught exceptions and console.error calls of the page
}

// chrome is the one Chromium of the test binary, started by the first test
// that needs it (starting one takes seconds) and closed by TestMain.
var chrome struct {
	once        sync.Once
	ctx         context.Context
	cancel      context.CancelFunc
	cancelAlloc context.CancelFunc
	err         error
}

func startChrome(path string) {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(filepath.Join(tmpDir, "profile")),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1500, 900),
		chromedp.WSURLReadTimeout(testkit.SlowWait), // bounds the start
		// This machine's network is closed: without these Chromium keeps
		// trying to reach Google's hosts.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	chrome.ctx, chrome.cancel, chrome.cancelAlloc = ctx, cancel, cancelAlloc
	// The first call starts the browser and must have no deadline of its
	// own (it would end the browser with it): WSURLReadTimeout bounds it.
	if err := chromedp.Do(ctx); err != nil {
		chrome.err = fmt.Errorf("start %s: %w", path, err)
	}
}

// stopChrome closes the shared browser, if one started.
func stopChrome() {
	if chrome.cancel != nil {
		chrome.cancel()
		chrome.cancelAlloc()
	}
}

// newBrowser opens a tab in the shared Chromium; it is closed at cleanup,
// and the test fails if the page threw or logged an error.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromium(t)
	chrome.once.Do(func() { startChrome(path) })
	if chrome.err != nil {
		t.Fatal(chrome.err)
	}
	ctx, cancel := chromedp.NewContext(chrome.ctx)
	if err := chromedp.Do(ctx); err != nil { // opens the tab
		cancel()
		t.Fatalf("open a tab: %v", err)
	}
	b := &browser{t: t, ctx: ctx}
	messages := chromedp.Console(ctx)
	read := make(chan struct{})
	go func() {
		defer close(read)
		for m, err := range messages {
			if err != nil {
				return
			}
			// Exceptions and console.error calls; the browser's own log
			// (Source set) reports refused requests the tests make on purpose.
			if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source == "") {
				b.mu.Lock()
				b.errors = append(b.errors, m.String())
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-read
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.errors {
			t.Errorf("the page reported an error: %s", e)
		}
	})
	return b
}

// do runs actions within testkit.SlowWait.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, testkit.SlowWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// open loads the console and waits until it has read the simulator.
func (b *browser) open(url string) {
	b.t.Helper()
	b.do(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))
}

// until waits until the JavaScript expression is truthy, and fails the
// test naming what it waited for, with the page's status line, when it
// never is.
func (b *browser) until(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, testkit.SlowWait)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(20*time.Millisecond),
		chromedp.WithPollingTimeout(testkit.SlowWait))); err != nil {
		// What the page shows, to tell why.
		sctx, scancel := context.WithTimeout(b.ctx, 2*time.Second)
		page, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`['status: ' + (document.querySelector('#status')?.textContent || ''),
			'chat:', document.querySelector('#messages')?.innerText || '',
			'wire:', ...[...document.querySelectorAll('#rows .row')].slice(-40).map(r => r.innerText.replace(/\s+/g, ' '))].join('\n')`))
		scancel()
		b.t.Fatalf("waiting for %s: %v\n%s", what, err, page)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) into out.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, testkit.SlowWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %.80s: %v", expr, err)
	}
	return v
}

// set sets a form control's value and tells the page it changed.
func (b *browser) set(selector, value string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(selector)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const el = document.querySelector(%q);
			el.value = %q; el.dispatchEvent(new Event('change')); })()`, selector, value)))
}

// click clicks the first element the selector finds, once it is visible.
func (b *browser) click(selector string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(selector), chromedp.NodeVisible))
}

// count returns how many elements a selector finds now.
func (b *browser) count(selector string) int {
	b.t.Helper()
	return eval[int](b, fmt.Sprintf(`document.querySelectorAll(%q).length`, selector))
}
