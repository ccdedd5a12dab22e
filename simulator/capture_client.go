package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/relaykit/relaykit/contract/testee"
)

// Captures calls GET /captures: the capture state and every capture
// indexed.
func (c *ControlClient) Captures(ctx context.Context) (CaptureList, error) {
	var out CaptureList
	err := c.Do(ctx, http.MethodGet, "/captures", nil, &out)
	return out, err
}

// SetCapturing calls POST /captures: on switches capturing on, off closes
// every open capture. A relaysim without a capture directory answers 409.
func (c *ControlClient) SetCapturing(ctx context.Context, on bool) (CaptureList, error) {
	var out CaptureList
	err := c.Do(ctx, http.MethodPost, "/captures", CaptureRequest{Capture: &on}, &out)
	return out, err
}

// FetchCapture calls GET /captures/{sessionId} and copies the capture, the
// session's frames as NDJSON, to w. It returns the bytes copied; a
// non-2xx answer is a *testee.Error.
func (c *ControlClient) FetchCapture(ctx context.Context, sessionID uint64, w io.Writer) (int64, error) {
	path := "/captures/" + strconv.FormatUint(sessionID, 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.BaseURL, "/")+path, nil)
	if err != nil {
		return 0, fmt.Errorf("testee control API: GET %s: %w", path, err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("testee control API: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var eb struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
			msg = eb.Error
		}
		return 0, &testee.Error{Method: http.MethodGet, Path: path, Status: resp.StatusCode, Message: msg}
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("testee control API: GET %s: read answer: %w", path, err)
	}
	return n, nil
}
