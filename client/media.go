package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// ErrMediaTooLarge and ErrMediaEmpty are the client-side media limits:
// uploads and downloads must hold 1 to contract.MediaMaxBytes (25 MiB)
// bytes.
var (
	ErrMediaTooLarge = fmt.Errorf("media larger than %d bytes", contract.MediaMaxBytes)
	ErrMediaEmpty    = errors.New("media is empty")
)

// UploadMediaFile uploads a local file to the connector's media re-host and
// returns its URL, for send_media's source_url.
func (c *Client) UploadMediaFile(ctx context.Context, filePath string) (string, error) {
	st, err := os.Stat(filePath)
	if err != nil {
		return "", fmt.Errorf("failed to upload %s: %w", filePath, err)
	}
	if st.Size() > contract.MediaMaxBytes {
		return "", fmt.Errorf("failed to upload %s: %w", filePath, ErrMediaTooLarge)
	}
	data, err := os.ReadFile(filePath)
	if err != nil {
		return "", fmt.Errorf("failed to upload %s: %w", filePath, err)
	}
	return c.UploadMedia(ctx, filepath.Base(filePath), "", data)
}

// UploadMedia posts data to /relay/media and returns the re-host URL
// (<base>/relay/media/<id>). contentType "" is guessed from name's
// extension, else application/octet-stream. Empty data and data over
// 25 MiB are refused before anything is sent.
func (c *Client) UploadMedia(ctx context.Context, name, contentType string, data []byte) (string, error) {
	if len(data) == 0 {
		return "", fmt.Errorf("failed to upload media: %w", ErrMediaEmpty)
	}
	if len(data) > contract.MediaMaxBytes {
		return "", fmt.Errorf("failed to upload media: %w", ErrMediaTooLarge)
	}
	if contentType == "" {
		contentType = mime.TypeByExtension(strings.ToLower(path.Ext(name)))
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	ctx, cancel := c.withTimeout(ctx, c.opts.MediaTimeout)
	defer cancel()
	endpoint := contract.MediaUploadURL(c.cfg.URL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("failed to build the media upload: %w", err)
	}
	req.Header.Set("User-Agent", contract.MediaUserAgent)
	req.Header.Set("Content-Type", contentType)
	if name = mediaFilename(name); name != "" && !c.dev.Has(deviation.ClientUploadWithoutFilename) {
		req.Header.Set(contract.HeaderMediaFilename, name)
	}
	if tok := c.token(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("failed to upload media: %w", redactURLError(err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		var eb contract.ErrorBody
		_ = json.Unmarshal(raw, &eb)
		return "", fmt.Errorf("failed to upload media: %w", &httpError{Status: resp.StatusCode, Message: eb.Error})
	}
	var up contract.MediaUploadResponse
	if err := json.Unmarshal(raw, &up); err != nil || up.ID == "" {
		return "", errors.New("failed to upload media: the answer has no id")
	}
	return contract.MediaURL(c.cfg.URL, up.ID), nil
}

// mediaFilename keeps a header-safe name of at most 255 characters.
func mediaFilename(name string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, filepath.Base(strings.TrimSpace(name)))
	if name == "." || name == "/" {
		return ""
	}
	return truncateRunes(name, 255)
}

// DownloadedMedia is a fetched attachment.
type DownloadedMedia struct {
	Data        []byte
	ContentType string
	// Filename comes from Content-Disposition; when there is none it is
	// empty and Ext holds an extension guessed from ContentType.
	Filename string
	Ext      string
}

// DownloadMedia fetches an attachment URL from an event. The bearer is sent
// only to the connector's own re-host: an http(s) URL whose host matches
// the connector's case-insensitively, on the same effective port, under
// /relay/media/. Any other URL is fetched without credentials, and no
// redirect carries the bearer to another origin. Answers that are empty or
// over 25 MiB are refused.
func (c *Client) DownloadMedia(ctx context.Context, rawURL string) (*DownloadedMedia, error) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("failed to download media: %q is not an http(s) URL", rawURL)
	}
	ctx, cancel := c.withTimeout(ctx, c.opts.MediaTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("failed to build the media download: %w", err)
	}
	if c.isRehost(u) || c.dev.Has(deviation.ClientBearerOnAnyDownload) {
		if tok := c.token(); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("failed to download media: %w", redactURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("failed to download media: %w", &httpError{Status: resp.StatusCode})
	}
	if resp.ContentLength > contract.MediaMaxBytes {
		return nil, fmt.Errorf("failed to download media: %w", ErrMediaTooLarge)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, contract.MediaMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("failed to download media: %w", err)
	}
	if len(data) > contract.MediaMaxBytes {
		return nil, fmt.Errorf("failed to download media: %w", ErrMediaTooLarge)
	}
	if len(data) == 0 && !c.dev.Has(deviation.ClientAcceptEmptyDownload) {
		return nil, fmt.Errorf("failed to download media: %w", ErrMediaEmpty)
	}
	m := &DownloadedMedia{Data: data, ContentType: resp.Header.Get("Content-Type")}
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil {
		if fn := mediaFilename(params["filename"]); fn != "" && utf8.ValidString(fn) {
			m.Filename = fn
			m.Ext = path.Ext(fn)
		}
	}
	if m.Ext == "" {
		if mt, _, err := mime.ParseMediaType(m.ContentType); err == nil {
			if exts, _ := mime.ExtensionsByType(mt); len(exts) > 0 {
				m.Ext = exts[0]
			}
		}
	}
	return m, nil
}

// isRehost reports whether u is the connector's own media re-host.
func (c *Client) isRehost(u *url.URL) bool {
	base, err := url.Parse(c.BaseURL())
	if err != nil {
		return false
	}
	return (u.Scheme == "http" || u.Scheme == "https") &&
		strings.EqualFold(u.Hostname(), base.Hostname()) &&
		effectivePort(u) == effectivePort(base) &&
		strings.HasPrefix(u.EscapedPath(), contract.PathMedia+"/")
}
