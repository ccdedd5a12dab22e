package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// mediaClient is a client of tc, running with deviations devs.
func mediaClient(t *testing.T, tc *connector, devs ...deviation.ID) *client.Client {
	t.Helper()
	o := withDeviations(t, testOpts(tc, clock.NewManual(epoch), nil), devs...)
	c, err := client.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeClient(t, c) })
	return c
}

func TestUploadMedia(t *testing.T) {
	tc := newConnector(t)
	var up httpRec
	tc.mux.HandleFunc("POST /relay/media", func(w http.ResponseWriter, r *http.Request) {
		up.add(r)
		writeJSON(w, 200, contract.MediaUploadResponse{ID: "0123456789abcdef0123456789abcdef", Size: 3})
	})
	c := mediaClient(t, tc)
	ctx := context.Background()
	url, err := c.UploadMedia(ctx, "cat.png", "", []byte("png"))
	if err != nil {
		t.Fatal(err)
	}
	if want := tc.URL() + "/relay/media/0123456789abcdef0123456789abcdef"; url != want {
		t.Fatalf("url = %s, want %s", url, want)
	}
	r := up.all()[0]
	if r.header.Get("User-Agent") != contract.MediaUserAgent || r.header.Get("Content-Type") != "image/png" ||
		r.header.Get(contract.HeaderMediaFilename) != "cat.png" || r.raw != "png" {
		t.Fatalf("upload = %v %q", r.header, r.raw)
	}
	if _, err := contract.VerifyToken(strings.TrimPrefix(r.header.Get("Authorization"), "Bearer "), []string{"s3cret"}, epoch); err != nil {
		t.Fatalf("upload bearer: %v", err)
	}
	// Unknown extension: octet-stream; long names are cut to 255.
	long := strings.Repeat("n", 300) + ".zzz"
	if _, err := c.UploadMedia(ctx, long, "", []byte("x")); err != nil {
		t.Fatal(err)
	}
	r = up.all()[1]
	if r.header.Get("Content-Type") != "application/octet-stream" || len([]rune(r.header.Get(contract.HeaderMediaFilename))) != 255 {
		t.Fatalf("second upload headers = %v", r.header)
	}
	// A file on disk.
	p := filepath.Join(t.TempDir(), "notes.txt")
	_ = os.WriteFile(p, []byte("hello"), 0o600)
	if _, err := c.UploadMediaFile(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := up.all()[2].header.Get(contract.HeaderMediaFilename); got != "notes.txt" {
		t.Fatalf("file name = %q", got)
	}
}

func TestUploadMediaLimits(t *testing.T) {
	tc := newConnector(t)
	var calls atomic.Int32
	tc.mux.HandleFunc("POST /relay/media", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		writeJSON(w, 413, contract.ErrorBody{Error: "too large"})
	})
	c := mediaClient(t, tc)
	ctx := context.Background()
	if _, err := c.UploadMedia(ctx, "a", "", nil); !errors.Is(err, client.ErrMediaEmpty) {
		t.Fatalf("empty = %v", err)
	}
	if _, err := c.UploadMedia(ctx, "a", "", make([]byte, contract.MediaMaxBytes+1)); !errors.Is(err, client.ErrMediaTooLarge) {
		t.Fatalf("too large = %v", err)
	}
	if calls.Load() != 0 {
		t.Fatal("refused media was sent")
	}
	if _, err := c.UploadMedia(ctx, "a", "", make([]byte, contract.MediaMaxBytes)); err == nil || !strings.Contains(err.Error(), "HTTP 413: too large") {
		t.Fatalf("exactly the cap is sent; the connector's 413 = %v", err)
	}
}

func TestDownloadMediaSendsTheBearerOnlyToTheRehost(t *testing.T) {
	tc := newConnector(t)
	var auth atomic.Value
	tc.mux.HandleFunc("GET /relay/media/{id}", func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		switch r.PathValue("id") {
		case "empty":
			return
		case "huge":
			w.Header().Set("Content-Length", fmt.Sprint(contract.MediaMaxBytes+1))
			return
		case "away":
			http.Redirect(w, r, publicURL+"/pic.jpg", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Content-Disposition", `attachment; filename="photo.jpg"`)
		_, _ = w.Write([]byte("jpeg"))
	})
	tc.mux.HandleFunc("GET /other/path", func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		_, _ = w.Write([]byte("x"))
	})
	var pubAuth atomic.Value
	pub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pubAuth.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("png"))
	}))
	defer pub.Close()
	publicURL = pub.URL
	c := mediaClient(t, tc)
	ctx := context.Background()

	m, err := c.DownloadMedia(ctx, tc.URL()+"/relay/media/abc")
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != "jpeg" || m.Filename != "photo.jpg" || m.Ext != ".jpg" || m.ContentType != "image/jpeg" {
		t.Fatalf("media = %+v", m)
	}
	if a, _ := auth.Load().(string); !strings.HasPrefix(a, "Bearer ") {
		t.Fatal("no bearer for the connector's own re-host")
	}
	// Same origin, other path: no bearer.
	if _, err := c.DownloadMedia(ctx, tc.URL()+"/other/path"); err != nil {
		t.Fatal(err)
	}
	if a, _ := auth.Load().(string); a != "" {
		t.Fatalf("bearer sent outside /relay/media/: %q", a)
	}
	// A public URL: no bearer; extension from the content type.
	m, err = c.DownloadMedia(ctx, pub.URL+"/pic.png")
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := pubAuth.Load().(string); a != "" || m.Ext != ".png" {
		t.Fatalf("public download: auth %q ext %q", a, m.Ext)
	}
	// A re-host redirecting elsewhere: the bearer does not follow.
	if _, err := c.DownloadMedia(ctx, tc.URL()+"/relay/media/away"); err != nil {
		t.Fatal(err)
	}
	if a, _ := pubAuth.Load().(string); a != "" {
		t.Fatalf("bearer followed a redirect to another origin: %q", a)
	}
	if _, err := c.DownloadMedia(ctx, tc.URL()+"/relay/media/empty"); !errors.Is(err, client.ErrMediaEmpty) {
		t.Fatalf("empty = %v", err)
	}
	if _, err := c.DownloadMedia(ctx, tc.URL()+"/relay/media/huge"); !errors.Is(err, client.ErrMediaTooLarge) {
		t.Fatalf("huge = %v", err)
	}
	if _, err := c.DownloadMedia(ctx, "ftp://x/relay/media/a"); err == nil {
		t.Fatal("non-http URL accepted")
	}
}

var publicURL string

func TestDevUploadWithoutFilename(t *testing.T) {
	tc := newConnector(t)
	var up httpRec
	tc.mux.HandleFunc("POST /relay/media", func(w http.ResponseWriter, r *http.Request) {
		up.add(r)
		writeJSON(w, 200, contract.MediaUploadResponse{ID: "0123456789abcdef0123456789abcdef", Size: 3})
	})
	c := mediaClient(t, tc, deviation.ClientUploadWithoutFilename)
	if _, err := c.UploadMedia(context.Background(), "cat.png", "", []byte("png")); err != nil {
		t.Fatal(err)
	}
	if h := up.all()[0].header; h.Get(contract.HeaderMediaFilename) != "" || h.Get("Content-Type") != "image/png" {
		t.Fatalf("with upload-without-filename: headers %v", h)
	}
}

func TestDevBearerOnAnyDownload(t *testing.T) {
	var pubAuth atomic.Value
	pub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pubAuth.Store(r.Header.Get("Authorization"))
		_, _ = w.Write([]byte("png"))
	}))
	defer pub.Close()
	c := mediaClient(t, newConnector(t), deviation.ClientBearerOnAnyDownload)
	if _, err := c.DownloadMedia(context.Background(), pub.URL+"/pic.png"); err != nil {
		t.Fatal(err)
	}
	if a, _ := pubAuth.Load().(string); !strings.HasPrefix(a, "Bearer ") {
		t.Fatalf("with bearer-on-any-download another origin should get the bearer, got %q", a)
	}
}

func TestDevAcceptEmptyDownload(t *testing.T) {
	tc := newConnector(t)
	tc.mux.HandleFunc("GET /relay/media/{id}", func(w http.ResponseWriter, r *http.Request) {})
	c := mediaClient(t, tc, deviation.ClientAcceptEmptyDownload)
	m, err := c.DownloadMedia(context.Background(), tc.URL()+"/relay/media/empty")
	if err != nil || len(m.Data) != 0 {
		t.Fatalf("with accept-empty-download an empty body is an attachment: %+v, %v", m, err)
	}
}
