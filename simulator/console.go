package simulator

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net"
	"net/http"
	"path"
	"strconv"
	"time"
)

// The console is a web page served at /_relaysim/ that chats with a
// gateway as a platform user, shows the replies as the platform would,
// streams the frames on the wire and pulls the simulator's levers. It is
// plain HTML, CSS and JavaScript embedded in the binary (no build step, no
// network): everything it shows comes from the control API, which it calls
// from the browser like any other client, so it keeps no state of its own.
//
// The page and its assets hold no data and need no control token; they
// pass the control API's Host and Origin checks. Every call the page makes
// goes to the control API and needs the token when one is set: the page
// asks for it once and keeps it in the tab's sessionStorage.

//go:embed console
var consoleFS embed.FS

// consoleAsset is one embedded file, ready to serve.
type consoleAsset struct {
	body        []byte
	contentType string
	etag        string
}

// consoleAssets are the embedded files by name, loaded once.
var consoleAssets = func() map[string]consoleAsset {
	types := map[string]string{
		".html": "text/html; charset=utf-8",
		".css":  "text/css; charset=utf-8",
		".js":   "text/javascript; charset=utf-8",
		".svg":  "image/svg+xml",
	}
	out := map[string]consoleAsset{}
	entries, _ := fs.ReadDir(consoleFS, "console")
	for _, e := range entries {
		ct, ok := types[path.Ext(e.Name())]
		if !ok || e.IsDir() {
			continue
		}
		b, err := consoleFS.ReadFile("console/" + e.Name())
		if err != nil {
			continue
		}
		sum := sha256.Sum256(b)
		out[e.Name()] = consoleAsset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return out
}()

// consoleCSP allows the page only its own scripts, styles and images and
// requests to its own origin: no inline script, nothing from elsewhere.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// ConsolePath is where the console's page is served.
const ConsolePath = ControlPrefix

// ConsoleURL returns the console's address, such as
// http://127.0.0.1:8765/_relaysim/, or "" when the server was not started
// or Options.DisableConsole is set. On a wildcard address (0.0.0.0, ::)
// it names 127.0.0.1, the address that works from this machine: a browser
// sending Host [::] would fail the loopback Host check.
func (s *Server) ConsoleURL() string {
	if s.url == "" || s.cfg.DisableConsole {
		return ""
	}
	if tcp, ok := s.ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port)) + ConsolePath
	}
	return s.url + ConsolePath
}

// consoleRoutes mounts the page, its assets and the redirect from the
// prefix without its slash.
func (s *Server) consoleRoutes(mux *http.ServeMux) {
	mux.HandleFunc(ControlPrefix+"{$}", s.methods(func(w http.ResponseWriter, r *http.Request) {
		s.serveConsoleAsset(w, r, "index.html")
	}, http.MethodGet))
	mux.HandleFunc(ControlPrefix+"console/{file}", s.methods(func(w http.ResponseWriter, r *http.Request) {
		s.serveConsoleAsset(w, r, r.PathValue("file"))
	}, http.MethodGet))
	mux.HandleFunc(ControlPrefix[:len(ControlPrefix)-1], s.methods(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.DisableConsole {
			ctlFail(w, &RequestError{Status: http.StatusNotFound, Message: "no route " + r.URL.Path + " (the console is turned off)"})
			return
		}
		http.Redirect(w, r, ConsolePath, http.StatusFound)
	}, http.MethodGet))
}

func (s *Server) serveConsoleAsset(w http.ResponseWriter, r *http.Request, name string) {
	if err := checkLoopbackOrigin(r); err != nil {
		ctlFail(w, err)
		return
	}
	if s.cfg.DisableConsole {
		ctlFail(w, &RequestError{Status: http.StatusNotFound, Message: "no route " + r.URL.Path + " (the console is turned off)"})
		return
	}
	a, ok := consoleAssets[name]
	if !ok {
		ctlFail(w, &RequestError{Status: http.StatusNotFound, Message: "no console file " + name})
		return
	}
	if len(r.URL.RawQuery) > 0 {
		ctlFail(w, badRequest("", "unknown query parameter: the console's files take none"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	// Revalidated on every load, so a new binary's console is never mixed
	// with an old cached file; the ETag keeps that cheap.
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
