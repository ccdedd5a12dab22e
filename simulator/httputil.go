package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/relaykit/relaykit/contract"
)

// maxJSONBody caps JSON request bodies: room for a 1 MiB event plus its
// envelope, far more than any contract body needs.
const maxJSONBody = contract.MaxFrameSize + 64<<10

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(contract.ErrorBody{Error: "failed to encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// httpError answers with the contract's error body (HTTP-006) and
// journals the request.
func (s *Server) httpError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	writeJSON(w, status, contract.ErrorBody{Error: msg})
	s.noteHTTP(r, status, "", msg)
}

// noteHTTP journals a contract HTTP request. Media ids are capabilities, so
// the path is cut.
func (s *Server) noteHTTP(r *http.Request, status int, gatewayID, detail string) {
	path := r.URL.Path
	if strings.HasPrefix(path, contract.PathMedia+"/") {
		path = contract.PathMedia + "/…"
	}
	s.note(JournalEntry{Kind: JournalHTTP, Method: r.Method, Path: path, Status: status, GatewayID: gatewayID, Detail: detail})
}

// readBody reads at most limit bytes; a larger body is a *RequestError
// with status 413.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, &RequestError{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("body is %d bytes, over the %d-byte limit", r.ContentLength, limit)}
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		// The read deadline (Options.ReadTimeout, MediaTimeout) ran out:
		// a trickled body. The connection closes after this answer.
		return nil, &RequestError{Status: http.StatusRequestTimeout, Message: "body did not arrive within the server's read timeout"}
	}
	if err != nil {
		return nil, &RequestError{Status: http.StatusBadRequest, Message: "failed to read body: " + err.Error()}
	}
	if int64(len(b)) > limit {
		return nil, &RequestError{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("body over the %d-byte limit", limit)}
	}
	return b, nil
}

// maxContractBody caps the JSON bodies of provision, enroll and policy.
const maxContractBody = 64 << 10

// decodeContractBody reads a JSON body of the given contract.Body* kind,
// validates it with contract.ValidateBody (a 400 naming the first field)
// and decodes it into dst.
func decodeContractBody(r *http.Request, kind string, dst any) error {
	body, err := readBody(r, maxContractBody)
	if err != nil {
		return err
	}
	if err := firstViolation(contract.ValidateBody(kind, body)); err != nil {
		return err
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return badRequest("", "body: %v", err)
	}
	return nil
}

// replyRequestError answers err with its status and JSON error body.
func (s *Server) replyRequestError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := requestStatus(err)
	s.httpError(w, r, status, msg)
}

// firstViolation turns contract.ValidateBody's answer into a 400 naming
// the field.
func firstViolation(vs []contract.Violation) error {
	if len(vs) == 0 {
		return nil
	}
	msgs := make([]string, len(vs))
	for i, v := range vs {
		msgs[i] = v.Error()
	}
	return &RequestError{Status: http.StatusBadRequest, Field: vs[0].Field, Message: strings.Join(msgs, "; ")}
}

// requestStatus maps an error to its HTTP status.
func requestStatus(err error) (int, string) {
	var re *RequestError
	if errors.As(err, &re) {
		status := re.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		msg := re.Message
		if re.Field != "" && !strings.Contains(msg, re.Field) {
			msg = re.Field + ": " + msg
		}
		return status, msg
	}
	if errors.Is(err, ErrClosed) {
		return http.StatusServiceUnavailable, err.Error()
	}
	return http.StatusInternalServerError, err.Error()
}

// methods wraps a handler so a wrong method gets a JSON 405.
func (s *Server) methods(h http.HandlerFunc, allowed ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for _, m := range allowed {
			if r.Method == m || (m == http.MethodGet && r.Method == http.MethodHead) {
				h(w, r)
				return
			}
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		s.httpError(w, r, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: method not allowed (use %s)", r.Method, r.URL.Path, strings.Join(allowed, ", ")))
	}
}

// routes builds the handler: the relay endpoint, the contract's HTTP
// routes, the control API, and JSON 404s for everything else.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(contract.PathRelay, s.methods(s.serveRelay, http.MethodGet))
	mux.HandleFunc(contract.PathProvision, s.methods(s.serveProvision, http.MethodPost))
	mux.HandleFunc(contract.PathEnroll, s.methods(s.serveEnroll, http.MethodPost))
	mux.HandleFunc(contract.PathPolicy, s.methods(s.servePolicy, http.MethodPost))
	mux.HandleFunc(contract.PathMedia, s.methods(s.serveMediaUpload, http.MethodPost))
	mux.HandleFunc(contract.PathMedia+"/{id}", s.methods(s.serveMediaDownload, http.MethodGet))
	s.controlRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if isWebSocketUpgrade(r) {
			// The reference connector answers upgrades elsewhere with 400.
			s.httpError(w, r, http.StatusBadRequest, "the WebSocket endpoint is "+contract.PathRelay)
			return
		}
		s.httpError(w, r, http.StatusNotFound, "no route "+r.URL.Path)
	})
	// ServeMux would answer an unclean path ("/relay/media/../x", "//")
	// with a redirect and an HTML body; no route has such paths, so they
	// get the contract's JSON 404 instead (HTTP-006, HTTP-020).
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") ||
			strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..") {
			s.httpError(w, r, http.StatusNotFound, "no route (unclean path)")
			return
		}
		mux.ServeHTTP(w, r)
	})
}
