package soak

// Security review tests of package client and package simulator; each
// finding in docs/security.md names the test that proves it.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

func debugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

var (
	b64Run = regexp.MustCompile(`[A-Za-z0-9_-]{40,}`)
	hex64  = regexp.MustCompile(`[0-9a-f]{64}`)
)

// leaks reports every secret of secrets found in text, every upgrade
// token (any base64url run that decodes to "<id>:<exp>:<64 hex>"), and
// every run of 64 lowercase hex digits (the shape of minted secrets,
// delivery keys and token signatures).
func leaks(text string, secrets map[string]string) []string {
	var out []string
	for name, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			out = append(out, name)
		}
	}
	for _, run := range b64Run.FindAllString(text, -1) {
		// A token may sit inside a longer run; try every start.
		for i := 0; i+40 <= len(run); i++ {
			b, err := base64.RawURLEncoding.DecodeString(run[i:])
			if err != nil {
				continue
			}
			if parts := strings.Split(string(b), ":"); len(parts) >= 3 && hex64.MatchString(parts[len(parts)-1]) {
				out = append(out, "an upgrade token ("+run[i:min(i+16, len(run))]+"…)")
				break
			}
		}
	}
	if m := hex64.FindString(text); m != "" {
		out = append(out, "a 64-hex secret or signature ("+m[:8]+"…)")
	}
	return out
}

// TestSecretsStayOutOfLogsJournalAndAnswers runs the flows that handle
// secrets — enroll, connect, provision, enroll by token, rotate, retire,
// revoke, policy, media, refused tokens of every kind, a client holding a
// wrong secret — with recognisable secrets, and asserts none of them, and
// no token, appears in the simulator's or the clients' logs (debug level),
// the journal, any control API answer except the two that mint secrets, or
// any error the client returns.
func TestSecretsStayOutOfLogsJournalAndAnswers(t *testing.T) {
	const (
		secretA  = "AAAA-secret-of-gateway-a-0123456789-zzzz"
		wrong    = "WWWW-wrong-secret-9876543210-wwww"
		identity = "IIII-identity-bearer-5555"
		control  = "CCCC-control-token-4444"
	)
	simLog, cliLog := &testkit.Buffer{}, &testkit.Buffer{}
	s, err := simulator.New(simulator.Options{
		Logger: debugLogger(simLog), ControlToken: control,
		IdentityTokens: map[string]string{identity: "tenant-a"},
		Platforms:      []string{"telegram", "discord"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	secrets := map[string]string{"gateway secret": secretA, "wrong secret": wrong, "identity bearer": identity, "control token": control}
	var answers []string // control and contract HTTP answers that must not leak
	ctl := func(method, path, body string, keep bool) []byte {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, s.URL()+simulator.ControlPrefix+path, strings.NewReader(body))
		req.Header.Set("X-Relaysim-Token", control)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if keep {
			answers = append(answers, method+" "+path+": "+string(b))
		}
		return b
	}
	route := func(method, path, bearer, body string) {
		req, _ := http.NewRequestWithContext(ctx, method, s.URL()+path, strings.NewReader(body))
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			answers = append(answers, fmt.Sprintf("%s %s %d: %s", method, path, resp.StatusCode, b))
		}
	}

	// Enroll through the control API: the one answer allowed to carry the
	// secret.
	ctl(http.MethodPost, "gateways", `{"gatewayId":"gw-a","secret":"`+secretA+`","tenant":"tenant-a","instanceId":"inst-a","platforms":["telegram","discord"]}`, false)
	ctl(http.MethodPost, "gateways", `{"gatewayId":"gw-b","tenant":"tenant-b","platforms":["telegram"]}`, false)

	var errMu sync.Mutex
	var errs []string
	addErr := func(e string) {
		errMu.Lock()
		errs = append(errs, e)
		errMu.Unlock()
	}
	newClient := func(id, secret string) *client.Client {
		c, err := client.New(client.Options{
			Config:  client.Config{URL: s.URL(), GatewayID: id, Secret: secret, Platforms: []client.Identity{{Platform: "telegram"}}},
			Logger:  debugLogger(cliLog),
			Handler: client.HandlerFuncs{Event: func(context.Context, *client.Delivery) error { return nil }},
			OnState: func(e client.StateEvent) {
				if e.Err != nil {
					addErr(e.Err.Error())
				}
			},
			BackoffBase: 10 * time.Millisecond, BackoffCap: 50 * time.Millisecond, CloseGrace: time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := newClient("gw-a", secretA)
	defer a.Close(context.Background())
	if err := a.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if r, _ := a.Send(ctx, "c1", "hello"); !r.Success {
		t.Fatalf("send: %+v", r)
	}
	if err := a.DeclarePolicy(ctx, contract.PolicyRequest{Platform: "telegram", FreeResponseScopes: []string{}}); err != nil {
		t.Fatal(err)
	}
	u, err := a.UploadMedia(ctx, "x.txt", "text/plain", []byte("media"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.DownloadMedia(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Inject("gw-a", json.RawMessage(`{"text":"hi","message_id":"m1","source":{"platform":"telegram","chat_id":"c1","chat_type":"dm","user_id":"u1"}}`)); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.GoDormant(ctx); !ok {
		t.Fatalf("GoDormant: %v", err)
	}

	// A client with the right id and a wrong secret is refused 4401 on
	// every dial; its errors must not echo the secret.
	w := newClient("gw-a", wrong)
	wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	if err := w.Connect(wctx); err == nil {
		t.Fatal("a wrong secret connected")
	}
	wcancel()
	if err := w.DeclarePolicy(ctx, contract.PolicyRequest{Platform: "telegram", FreeResponseScopes: []string{}}); err != nil {
		addErr(err.Error())
	}
	if _, err := w.UploadMedia(ctx, "x.txt", "", []byte("m")); err != nil {
		addErr(err.Error())
	}
	w.Close(context.Background())

	// Every refused token kind, on the upgrade and on the HTTP routes.
	now := time.Now()
	bad := map[string]string{
		"forged":  contract.MintTokenTTL("gw-a", wrong, now, time.Minute),
		"expired": contract.MintToken("gw-a", secretA, now.Unix()-100),
		"other":   contract.MintTokenTTL("gw-zz", secretA, now, time.Minute),
	}
	for name, tok := range bad {
		secrets["refused "+name+" token"] = tok
		hdr := http.Header{"Authorization": {"Bearer " + tok}}
		c, _, err := websocket.Dial(ctx, s.RelayURL(), &websocket.DialOptions{HTTPHeader: hdr})
		if err == nil {
			_, _, rerr := c.Read(ctx)
			addErr(rerr.Error())
			c.CloseNow()
		}
		route(http.MethodPost, contract.PathPolicy, tok, `{"platform":"telegram","requireAddress":false,"freeResponseScopes":[],"allowOtherBots":false}`)
		route(http.MethodPost, contract.PathMedia, tok, "x")
	}
	route(http.MethodPost, contract.PathProvision, "not-"+identity, `{}`)

	// Boot provisions a new gateway with the identity bearer; the secret
	// it receives lives only in its memory.
	bootLog := &testkit.Buffer{}
	bc, rep, err := client.Boot(ctx, client.Options{
		Config: client.Config{URL: s.URL(), GatewayID: "gw-p", IdentityToken: identity,
			Platforms: []client.Identity{{Platform: "telegram"}, {Platform: "discord"}}},
		Logger: debugLogger(bootLog), CloseGrace: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range rep.Steps {
		addErr(st.String())
	}
	bc.Close(context.Background())
	env, _ := s.Env("gw-p")
	for _, line := range strings.Split(env, "\n") {
		if v, ok := strings.CutPrefix(line, "GATEWAY_RELAY_SECRET="); ok {
			secrets["provisioned secret"] = v
		}
	}
	// Enroll by token: the enrollment token is shown once, at creation.
	var et simulator.EnrollmentToken
	json.Unmarshal(ctl(http.MethodPost, "enrollment-tokens", `{"tenant":"tenant-a"}`, false), &et)
	secrets["enrollment token"] = et.Token
	route(http.MethodPost, contract.PathEnroll, identity, `{"enrollmentToken":"`+et.Token+`","gatewayId":"gw-e"}`)
	route(http.MethodPost, contract.PathEnroll, identity, `{"enrollmentToken":"`+et.Token+`","gatewayId":"gw-e2"}`) // used: 403

	// Rotation mints a secret (shown once); retire and revoke show none.
	var rot simulator.Gateway
	json.Unmarshal(ctl(http.MethodPost, "gateways/gw-a/rotate", `{}`, false), &rot)
	secrets["rotated secret"] = rot.Secret
	ctl(http.MethodPost, "gateways/gw-a/retire", ``, true)
	ctl(http.MethodPost, "gateways/gw-a/revoke", ``, true)
	ctl(http.MethodPost, "inbound", `{"gatewayId":"gw-b","event":{"text":"x","source":{"platform":"telegram","chat_id":"c","chat_type":"dm","user_id":"u"}}}`, true)
	ctl(http.MethodPost, "faults", `{"gatewayId":"gw-b","drop":true,"times":1}`, true)
	ctl(http.MethodPost, "scripts", `{"op":"send","fail":{"error":"x"}}`, true)
	for _, p := range []string{"health", "gateways", "gateways/gw-a", "gateways/gw-p", "sessions", "outbound", "interrupts",
		"buffers/inst-a", "policies/inst-a", "journal", "scripts", "faults", "wakes", "descriptors", "deviations", "clock"} {
		ctl(http.MethodGet, p, "", true)
	}
	// The client's connection died with the revocation; wait for it.
	select {
	case <-a.Done():
	case <-time.After(10 * time.Second):
	}
	if a.Err() != nil {
		addErr(a.Err().Error())
	}

	journal, _ := json.Marshal(s.Journal(0))
	errMu.Lock()
	defer errMu.Unlock()
	for name, text := range map[string]string{
		"simulator log": simLog.String(), "client log": cliLog.String(), "boot log": bootLog.String(),
		"journal": string(journal), "control and HTTP answers": strings.Join(answers, "\n"), "client errors": strings.Join(errs, "\n"),
	} {
		if len(text) == 0 {
			t.Errorf("%s is empty: the scenario did not run as planned", name)
		}
		if found := leaks(text, secrets); len(found) > 0 {
			t.Errorf("%s leaks %s", name, strings.Join(found, ", "))
		}
	}
	if !strings.Contains(simLog.String(), "upgrade refused") || !strings.Contains(string(journal), `"kind":"auth"`) {
		t.Error("the refusals were not logged and journaled at all; the scan proves nothing")
	}
}

// TestClientDialURLCredentialsStayOutOfLogs: a relay URL with user info
// (a reverse proxy's basic auth) must not reach the logs or errors when a
// dial fails.
func TestClientDialURLCredentialsStayOutOfLogs(t *testing.T) {
	log := &testkit.Buffer{}
	var errs []string
	var mu sync.Mutex
	c, err := client.New(client.Options{
		Config: client.Config{URL: "http://proxyuser:PPPP-proxy-password@127.0.0.1:1", GatewayID: "gw", Secret: "s"},
		Logger: debugLogger(log), BackoffBase: time.Millisecond, BackoffCap: 5 * time.Millisecond, CloseGrace: time.Millisecond,
		OnState: func(e client.StateEvent) {
			if e.Err != nil {
				mu.Lock()
				errs = append(errs, e.Err.Error())
				mu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	c.Connect(ctx)
	cancel()
	c.Close(context.Background())
	mu.Lock()
	all := log.String() + strings.Join(errs, "\n")
	mu.Unlock()
	if strings.Contains(all, "PPPP-proxy-password") {
		t.Errorf("the relay URL's password reaches the logs or errors:\n%.600s", all)
	}
}

// TestNoNaiveSecretComparisons scans the non-test sources of contract,
// client and simulator for == or != (and bytes.Equal) on values named like
// secrets, tokens, signatures or MACs: every such comparison must go
// through hmac.Equal or crypto/subtle. Comparisons with "" or nil, and
// lookups by hash, are fine.
func TestNoNaiveSecretComparisons(t *testing.T) {
	// The scanner finds what it looks for.
	probe := []byte("package p\nfunc f(sig, want []byte, token, tok string) bool {\n" +
		"\tif token == \"\" { return false }\n\treturn bytes.Equal(sig, want) || token != tok\n}\n")
	if got := naiveComparisons("probe.go", probe); len(got) != 2 {
		t.Fatalf("the scanner found %d naive comparisons in its probe, want 2: %v", len(got), got)
	}
	for _, dir := range []string{"../contract", "../client", "../simulator"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		if len(files) == 0 {
			t.Fatalf("no sources in %s", dir)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range naiveComparisons(path, src) {
				t.Errorf("a secret-like value compared with ==, != or Equal instead of in constant time: %s", f)
			}
		}
	}
}

var (
	sensitiveName = regexp.MustCompile(`(?i)(secret|token|sig|signature|mac|bearer|password|apikey|deliverykey)`)
	benignName    = regexp.MustCompile(`(?i)(ttl|tokens$|kind|type|len|name|url|path|count|hash)`)
)

// naiveComparisons lists the comparisons of secret-like values in src
// that do not run in constant time.
func naiveComparisons(path string, src []byte) []string {
	name := func(e ast.Expr) string {
		switch v := e.(type) {
		case *ast.Ident:
			return v.Name
		case *ast.SelectorExpr:
			return v.Sel.Name
		case *ast.IndexExpr:
			if id, ok := v.X.(*ast.Ident); ok {
				return id.Name
			}
		}
		return ""
	}
	trivial := func(e ast.Expr) bool {
		switch v := e.(type) {
		case *ast.BasicLit:
			return v.Value == `""` || v.Kind == token.INT
		case *ast.Ident:
			return v.Name == "nil" || v.Name == "true" || v.Name == "false"
		}
		return false
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, 0)
	if err != nil {
		return []string{path + ": " + err.Error()}
	}
	var found []string
	ast.Inspect(f, func(n ast.Node) bool {
		var l, r ast.Expr
		switch v := n.(type) {
		case *ast.BinaryExpr:
			if v.Op != token.EQL && v.Op != token.NEQ {
				return true
			}
			l, r = v.X, v.Y
		case *ast.CallExpr:
			if sel, ok := v.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Equal" && len(v.Args) == 2 {
				if pkg, ok := sel.X.(*ast.Ident); ok && (pkg.Name == "bytes" || pkg.Name == "strings") {
					l, r = v.Args[0], v.Args[1]
				}
			}
			if l == nil {
				return true
			}
		default:
			return true
		}
		if trivial(l) || trivial(r) {
			return true
		}
		for _, side := range []ast.Expr{l, r} {
			if nm := name(side); sensitiveName.MatchString(nm) && !benignName.MatchString(nm) {
				found = append(found, fmt.Sprintf("%s: %s", fset.Position(n.Pos()), src[fset.Position(n.Pos()).Offset:fset.Position(n.End()).Offset]))
				break
			}
		}
		return true
	})
	return found
}

// TestLeakScanner proves the scanner of the secrets test finds what it
// looks for.
func TestLeakScanner(t *testing.T) {
	tok := contract.MintTokenTTL("gw-x", "s", time.Now(), time.Minute)
	for _, text := range []string{
		"msg=hello token=" + tok + " end",
		`{"err":"Bearer ` + tok + `"}`,
		"sig 7a475afcf37e3f64c446c74129b1853a95faa869a8ccc9fa89dcef7585da2143 here",
		"the secret is hunter2-hunter2",
	} {
		if len(leaks(text, map[string]string{"s": "hunter2-hunter2"})) == 0 {
			t.Errorf("the scanner missed the leak in %q", text)
		}
	}
	if got := leaks(`{"gatewayId":"gw-a","bufferId":"buf-0123abcd-17","id":"0123456789abcdef0123456789abcdef"}`, nil); len(got) > 0 {
		t.Errorf("the scanner flags harmless ids: %v", got)
	}
}

// countingBody counts what a handler reads of a request body.
type countingBody struct {
	r io.Reader
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingBody) Close() error { return nil }

// TestRequestBodiesAreBounded shows the simulator refuses oversized
// request bodies without buffering them: an announced oversize is refused
// before a byte is read, and an unannounced one is read only up to its
// route's cap plus one byte.
func TestRequestBodiesAreBounded(t *testing.T) {
	s, err := simulator.NewUnstarted(simulator.Options{IdentityTokens: map[string]string{"id": "t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw"}); err != nil {
		t.Fatal(err)
	}
	tok, _ := s.Token("gw", time.Hour)
	const huge = 200 << 20 // far past every cap; never materialised
	for _, tc := range []struct {
		path, bearer string
		cap          int64 // what the route may read at most
	}{
		{contract.PathMedia, tok, contract.MediaMaxBytes},
		{contract.PathPolicy, tok, 64 << 10},
		{contract.PathProvision, "id", 64 << 10},
		{contract.PathEnroll, "id", 64 << 10},
		{simulator.ControlPrefix + "inbound", "", contract.MaxFrameSize + 64<<10},
		{simulator.ControlPrefix + "gateways", "", contract.MaxFrameSize + 64<<10},
	} {
		for _, announced := range []bool{true, false} {
			body := &countingBody{r: &filler{n: huge}}
			req := httptest.NewRequest(http.MethodPost, "http://relaysim.test"+tc.path, nil)
			req.Body = body
			req.ContentLength = -1
			if announced {
				req.ContentLength = huge
			}
			if tc.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			if strings.HasPrefix(tc.path, simulator.ControlPrefix) {
				req.Header.Set("Content-Type", "application/json")
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("%s (announced %v): %d %s; want 413", tc.path, announced, rec.Code, rec.Body)
			}
			limit := tc.cap + 1 + 64<<10 // the cap, one byte to detect it, one read's slack
			if announced {
				limit = 0
			}
			if body.n > limit {
				t.Errorf("%s (announced %v): read %d bytes of an oversized body; at most %d", tc.path, announced, body.n, limit)
			}
		}
	}
}

// filler streams n bytes without holding them.
type filler struct{ n int64 }

func (f *filler) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), f.n)
	clear(p[:k])
	f.n -= k
	return int(k), nil
}

// TestClientBoundsWhatItReads shows the client's memory per connection and
// per download is bounded: a connector streaming an endless line is cut
// off 1009 after about 1 MiB, and media larger than 25 MiB is refused
// whether or not its size is announced.
func TestClientBoundsWhatItReads(t *testing.T) {
	streamed := make(chan int64, 1)
	var once sync.Once
	closed := make(chan websocket.StatusCode, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/relay":
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			go func() {
				chunk := bytes.Repeat([]byte("a"), 64<<10)
				c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"inbound","event":{"text":"`))
				for i := 0; i < 64; i++ { // 4 MiB without a newline
					if c.Write(context.Background(), websocket.MessageText, chunk) != nil {
						return
					}
				}
			}()
			for { // the client's hellos, then its close
				if _, _, err = c.Read(context.Background()); err != nil {
					break
				}
			}
			once.Do(func() { closed <- websocket.CloseStatus(err) })
		case strings.HasPrefix(r.URL.Path, "/relay/media/announced"):
			w.Header().Set("Content-Length", fmt.Sprint(contract.MediaMaxBytes+1))
			io.Copy(w, &filler{n: contract.MediaMaxBytes + 1})
		case strings.HasPrefix(r.URL.Path, "/relay/media/stream"):
			w.(http.Flusher).Flush() // chunked: no length announced
			n, _ := io.Copy(w, &filler{n: 200 << 20})
			streamed <- n
		}
	}))
	defer srv.Close()
	c, err := client.New(client.Options{
		Config:       client.Config{URL: srv.URL, GatewayID: "gw", Secret: "s"},
		Reconnect:    client.Bool(false),
		CloseGrace:   time.Millisecond,
		PingInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go c.Connect(ctx)
	select {
	case code := <-closed:
		if code != websocket.StatusMessageTooBig {
			t.Errorf("the client closed an endless line with %d, want 1009", code)
		}
	case <-ctx.Done():
		t.Fatal("the client never closed a socket streaming an endless line")
	}
	c.Close(ctx)

	c2, _ := client.New(client.Options{Config: client.Config{URL: srv.URL, GatewayID: "gw", Secret: "s"}, CloseGrace: time.Millisecond})
	defer c2.Close(context.Background())
	for _, p := range []string{"announced", "stream"} {
		_, err := c2.DownloadMedia(ctx, srv.URL+"/relay/media/"+p)
		if err == nil || !strings.Contains(err.Error(), "larger") {
			t.Errorf("download of an oversized %s body: %v; want a too-large error", p, err)
		}
	}
	// The endless download stops once the client hangs up: what the
	// server got rid of is the client's 25 MiB + 1 plus socket buffers.
	select {
	case n := <-streamed:
		if n > 64<<20 {
			t.Errorf("the client read on to %d bytes of an endless download", n)
		}
	case <-ctx.Done():
		t.Error("the endless download never stopped: the client kept reading")
	}
}

// TestNoCrossTenantReads checks every route that reads per-tenant state:
// media, chat info learned from events, interrupts, policies, buffers and
// provisioning of another tenant's gateway id.
func TestNoCrossTenantReads(t *testing.T) {
	s, err := simulator.New(simulator.Options{
		IdentityTokens: map[string]string{"id-a": "tenant-a", "id-b": "tenant-b"},
		Platforms:      []string{"telegram"}, PingInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gws := map[string]simulator.Gateway{}
	for _, g := range []simulator.GatewaySpec{
		{GatewayID: "gw-a", Tenant: "tenant-a", InstanceID: "inst-a"},
		{GatewayID: "gw-a2", Tenant: "tenant-a", InstanceID: "inst-a2"},
		{GatewayID: "gw-b", Tenant: "tenant-b", InstanceID: "inst-b"},
	} {
		gws[g.GatewayID], err = s.EnrollGateway(g)
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	interrupts := map[string]chan string{}
	clients := map[string]*client.Client{}
	for id, g := range gws {
		ch := make(chan string, 8)
		interrupts[id] = ch
		c, err := client.New(client.Options{
			Config: client.Config{URL: s.URL(), GatewayID: id, Secret: g.Secret, Platforms: []client.Identity{{Platform: "telegram"}}},
			Handler: client.HandlerFuncs{
				Event:     func(context.Context, *client.Delivery) error { return nil },
				Interrupt: func(_ context.Context, key, _ string) { ch <- key },
			},
			CloseGrace: time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		clients[id] = c
	}
	token := func(id string) string { tok, _ := s.Token(id, time.Hour); return tok }
	get := func(path, tok string) (int, []byte) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	// Media: tenant-wide, never across tenants.
	u, err := clients["gw-a"].UploadMedia(ctx, "a.txt", "text/plain", []byte("tenant a's file"))
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(u, s.URL())
	if code, body := get(path, token("gw-b")); code != 404 || bytes.Contains(body, []byte("tenant a's file")) {
		t.Errorf("tenant b read tenant a's media: %d %s", code, body)
	}
	if code, _ := get(path, token("gw-a2")); code != 200 {
		t.Errorf("a second gateway of tenant a got %d for its tenant's media; HTTP-020 serves the tenant", code)
	}
	if _, err := clients["gw-b"].DownloadMedia(ctx, u); err == nil {
		t.Error("the client of tenant b downloaded tenant a's media")
	}

	// Chat info learned from tenant a's events is not answered to b.
	ev := json.RawMessage(`{"text":"hi","message_id":"m1","source":{"platform":"telegram","chat_id":"c1","chat_type":"group","chat_name":"A's secret room","user_id":"u1"}}`)
	if _, err := s.Inject("gw-a", ev); err != nil {
		t.Fatal(err)
	}
	if info, r, _ := clients["gw-a"].GetChatInfo(ctx, "c1"); !r.Success || info.Name != "A's secret room" {
		t.Fatalf("gw-a's own chat info: %+v %+v", info, r)
	}
	for _, id := range []string{"gw-b", "gw-a2"} {
		if info, _, _ := clients[id].GetChatInfo(ctx, "c1"); info.Name == "A's secret room" {
			t.Errorf("%s learned the name of gw-a's chat through get_chat_info", id)
		}
	}

	// An interrupt naming a's session from tenant b reaches nobody.
	key := contract.SessionKey(contract.SessionSource{Platform: "telegram", ChatID: "c1", ChatType: "group", UserID: "u1"}, contract.DefaultSessionKeyOptions())
	seq := s.JournalSeq()
	if err := clients["gw-b"].Interrupt(ctx, key, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Await(ctx, seq, func(e simulator.JournalEntry) bool {
		return e.Kind == simulator.JournalFrameIn && e.FrameType == contract.TypeInterrupt && e.GatewayID == "gw-b"
	}); err != nil {
		t.Fatal(err)
	}
	// The simulator handles a socket's frames in order: a round trip on
	// gw-b's socket means its interrupt was routed (or not) by now, and a
	// second one on gw-a's means anything pushed there has arrived.
	clients["gw-b"].Send(ctx, "c", "barrier")
	clients["gw-a"].Send(ctx, "c", "barrier")
	select {
	case k := <-interrupts["gw-a"]:
		t.Errorf("tenant b interrupted tenant a's session %s", k)
	default:
	}
	for _, r := range s.Interrupts("gw-b") {
		if r.RoutedTo != "" && r.RoutedTo != "gw-b" {
			t.Errorf("gw-b's interrupt was routed to %s", r.RoutedTo)
		}
	}

	// Policies are per instance: b's declaration changes nothing of a's.
	if err := clients["gw-b"].DeclarePolicy(ctx, contract.PolicyRequest{Platform: "telegram", RequireAddress: true, FreeResponseScopes: []string{}}); err != nil {
		t.Fatal(err)
	}
	if p := s.Policy("inst-a", "telegram"); p.RequireAddress {
		t.Error("tenant b's policy applied to tenant a's instance")
	}

	// Provisioning or enrolling another tenant's gateway id never hands
	// out its secret.
	for _, path := range []string{contract.PathProvision, contract.PathEnroll} {
		body := `{"gatewayId":"gw-a","platform":"telegram","botId":"","gatewayEndpoint":"","routeKeys":[]}`
		if path == contract.PathEnroll {
			et, _ := s.CreateEnrollmentToken(simulator.EnrollmentTokenSpec{Tenant: "tenant-b"})
			body = `{"enrollmentToken":"` + et.Token + `","gatewayId":"gw-a"}`
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer id-b")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusConflict || bytes.Contains(b, []byte(gws["gw-a"].Secret)) {
			t.Errorf("%s of tenant a's gateway id by tenant b: %d %s; want 409 without the secret", path, resp.StatusCode, b)
		}
	}
}
