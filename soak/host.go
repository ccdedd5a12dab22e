package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// host is the simulator the harness drives: in this process
// (*simulator.Server) or a relaysim child process reached through its
// control API. Either way the gateways reach it through the proxy.
type host interface {
	// addr is host:port of its listener, for the proxy.
	addr() string
	// relayURL is its /relay URL, for sockets that bypass the proxy.
	relayURL() string
	// baseURL is its http://host:port, for its metrics endpoint.
	baseURL() string
	inject(gatewayID string, event []byte) (simulator.Delivery, error)
	passthrough(gatewayID string, f contract.Forward) (simulator.Delivery, error)
	enroll(spec simulator.GatewaySpec) (secret string, err error)
	addFault(f simulator.Fault) error
	clearFaults()
	closeSession(gatewayID string, code int, reason string)
	stopPongs(gatewayID string, stop bool)
	// bufferState reports an instance's buffer length, flip and drain.
	bufferState(instance string) (n int, flipped, draining bool, err error)
	// journal returns the entries after since; with wait it blocks until
	// one exists, ctx ends or wait passes.
	journal(ctx context.Context, since uint64, wait time.Duration) ([]simulator.JournalEntry, error)
	journalSeq() uint64
}

// errNotReached says a call never reached the simulator (it is
// restarting or was killed), so nothing happened and it may be retried.
var errNotReached = errors.New("soak: the simulator was not reached")

// memHost is a simulator in this process.
type memHost struct{ srv *simulator.Server }

func (m memHost) addr() string     { return hostOf(m.srv.URL()) }
func (m memHost) relayURL() string { return m.srv.RelayURL() }
func (m memHost) baseURL() string  { return m.srv.URL() }

func (m memHost) inject(gw string, ev []byte) (simulator.Delivery, error) {
	d, err := m.srv.Inject(gw, ev)
	if errors.Is(err, simulator.ErrClosed) {
		err = errNotReached
	}
	return d, err
}

func (m memHost) passthrough(gw string, f contract.Forward) (simulator.Delivery, error) {
	d, err := m.srv.Passthrough(gw, f)
	if errors.Is(err, simulator.ErrClosed) {
		err = errNotReached
	}
	return d, err
}

func (m memHost) enroll(spec simulator.GatewaySpec) (string, error) {
	g, err := m.srv.EnrollGateway(spec)
	return g.Secret, err
}

func (m memHost) addFault(f simulator.Fault) error { _, err := m.srv.AddFault(f); return err }
func (m memHost) clearFaults()                     { m.srv.ClearFaults() }
func (m memHost) closeSession(gw string, code int, reason string) {
	m.srv.CloseSession(gw, code, reason)
}
func (m memHost) stopPongs(gw string, stop bool) { m.srv.StopPongs(gw, stop) }

func (m memHost) bufferState(inst string) (int, bool, bool, error) {
	return len(m.srv.Buffer(inst)), m.srv.Flipped(inst), m.srv.Draining(inst), nil
}

func (m memHost) journal(ctx context.Context, since uint64, wait time.Duration) ([]simulator.JournalEntry, error) {
	if wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		_, err := m.srv.Await(wctx, since, nil)
		cancel()
		if err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return m.srv.Journal(since), nil
}

func (m memHost) journalSeq() uint64 { return m.srv.JournalSeq() }

// procHost is a relaysim child process, driven through its control API.
type procHost struct {
	base string // http://127.0.0.1:port
	hc   *http.Client
}

func newProcHost(base string) *procHost {
	return &procHost{base: base, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
}

func (p *procHost) addr() string     { return hostOf(p.base) }
func (p *procHost) relayURL() string { return "ws://" + hostOf(p.base) + contract.PathRelay }
func (p *procHost) baseURL() string  { return p.base }

// close drops its idle connections, so none is reused against a process
// that is gone.
func (p *procHost) close() { p.hc.CloseIdleConnections() }

// call makes one control request. An error wrapping errNotReached means
// the request never reached a listener; any other error after the
// request went out leaves its outcome unknown.
func (p *procHost) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+strings.TrimSuffix(simulator.ControlPrefix, "/")+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w: %v", errNotReached, err)
		}
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		// relaysim is shutting down and refused the call before acting.
		return fmt.Errorf("%w: %s %s: 503 %s", errNotReached, method, path, bytes.TrimSpace(b))
	}
	if resp.StatusCode != http.StatusOK {
		return &statusError{fmt.Sprintf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// callTimeout bounds one control call; the simulator answers in
// milliseconds unless it is gone.
const callTimeout = 10 * time.Second

func (p *procHost) do(method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	return p.call(ctx, method, path, body, out)
}

func (p *procHost) inject(gw string, ev []byte) (simulator.Delivery, error) {
	var d simulator.Delivery
	err := p.do(http.MethodPost, "/inbound", map[string]any{"gatewayId": gw, "event": json.RawMessage(ev)}, &d)
	return d, err
}

func (p *procHost) passthrough(gw string, f contract.Forward) (simulator.Delivery, error) {
	var d simulator.Delivery
	fw := map[string]any{"platform": f.Platform, "botId": f.BotID, "method": f.Method, "path": f.Path,
		"headers": f.Headers, "bodyB64": f.Body} // []byte marshals as standard base64
	err := p.do(http.MethodPost, "/passthrough", map[string]any{"gatewayId": gw, "forward": fw}, &d)
	return d, err
}

func (p *procHost) enroll(spec simulator.GatewaySpec) (string, error) {
	var out struct {
		Secret string `json:"secret"`
	}
	err := p.do(http.MethodPost, "/gateways", map[string]any{"gatewayId": spec.GatewayID, "tenant": spec.Tenant,
		"instanceId": spec.InstanceID, "platforms": spec.Platforms}, &out)
	return out.Secret, err
}

func (p *procHost) addFault(f simulator.Fault) error {
	body := map[string]any{"gatewayId": f.GatewayID, "direction": f.Direction, "probability": f.Probability,
		"seed": f.Seed, "times": f.Times}
	if len(f.FrameTypes) > 0 {
		body["frameTypes"] = f.FrameTypes
	}
	if f.Drop {
		body["drop"] = true
	} else {
		body["delay"] = f.Delay.String()
	}
	err := p.do(http.MethodPost, "/faults", body, nil)
	if errors.Is(err, errNotReached) {
		return nil // the simulator is restarting; its faults die with it anyway
	}
	return err
}

// The calls below act on a simulator that may be down (restarting or
// killed); a fault that misses then is no fault at all, like memHost's on
// a closed server.
func (p *procHost) clearFaults() { p.do(http.MethodDelete, "/faults", nil, nil) }
func (p *procHost) closeSession(gw string, code int, reason string) {
	p.do(http.MethodPost, "/sessions/"+url.PathEscape(gw)+"/close", map[string]any{"code": code, "reason": reason}, nil)
}
func (p *procHost) stopPongs(gw string, stop bool) {
	p.do(http.MethodPost, "/faults", map[string]any{"stopPongs": stop, "gatewayId": gw}, nil)
}

func (p *procHost) bufferState(inst string) (int, bool, bool, error) {
	var out struct {
		Flipped  bool              `json:"flipped"`
		Draining bool              `json:"draining"`
		Entries  []json.RawMessage `json:"entries"`
	}
	err := p.do(http.MethodGet, "/buffers/"+url.PathEscape(inst), nil, &out)
	return len(out.Entries), out.Flipped, out.Draining, err
}

func (p *procHost) journal(ctx context.Context, since uint64, wait time.Duration) ([]simulator.JournalEntry, error) {
	path := "/journal?since=" + strconv.FormatUint(since, 10)
	if wait > 0 {
		path += "&wait=" + wait.String()
	}
	var out struct {
		Entries []simulator.JournalEntry `json:"entries"`
	}
	cctx, cancel := context.WithTimeout(ctx, wait+callTimeout)
	defer cancel()
	err := p.call(cctx, http.MethodGet, path, nil, &out)
	return out.Entries, err
}

func (p *procHost) journalSeq() uint64 {
	var out struct {
		Last uint64 `json:"last"`
	}
	p.do(http.MethodGet, "/journal?since="+strconv.FormatUint(1<<62, 10), nil, &out)
	return out.Last
}

// statusError is an answer the simulator gave: the request reached it.
type statusError struct{ msg string }

func (e *statusError) Error() string { return e.msg }
