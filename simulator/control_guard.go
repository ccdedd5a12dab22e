package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/relaykit/relaykit/contract"
)

// controlGuard wraps a control route with the checks every route shares,
// in this order:
//
//  1. On a connection that arrived on a loopback address, the Host header
//     must name a loopback host (localhost, *.localhost, 127.0.0.0/8,
//     ::1) and an Origin header, when present, must be this server's own
//     origin; otherwise 403 naming the header. A web page on another site
//     (or on a DNS name rebound to 127.0.0.1) can then neither read nor
//     change the simulator. Connections on other addresses are left to
//     the control token: their legitimate Host is whatever name the
//     machine has.
//  2. The control token, when one is configured: 401.
//  3. A request with a body must say Content-Type: application/json,
//     or gets 415. Browsers send text/plain and form bodies cross-site
//     without asking; a JSON content type they do not.
//  4. Only the query parameters the route reads: 400 naming the first
//     other one, so a misspelt filter is not silently ignored.
func (s *Server) controlGuard(fn http.HandlerFunc, query []string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := checkLoopbackOrigin(r); err != nil {
			ctlFail(w, err)
			return
		}
		if !s.controlAuthorized(r) {
			writeJSON(w, http.StatusUnauthorized, contract.ErrorBody{Error: "control token missing or wrong"})
			return
		}
		if err := checkJSONBody(r); err != nil {
			ctlFail(w, err)
			return
		}
		for k := range r.URL.Query() {
			if !slices.Contains(query, k) {
				allowed := "none"
				if len(query) > 0 {
					allowed = strings.Join(query, ", ")
				}
				ctlFail(w, badRequest(k, "unknown query parameter %q (this route reads: %s)", k, allowed))
				return
			}
		}
		fn(w, r)
	}
}

// checkLoopbackOrigin applies the Host and Origin checks to requests that
// arrived on a loopback address.
func checkLoopbackOrigin(r *http.Request) error {
	if !arrivedOnLoopback(r) {
		return nil
	}
	if !loopbackHost(r.Host) {
		return &RequestError{Status: http.StatusForbidden, Field: "Host",
			Message: fmt.Sprintf("Host %q is not a loopback name or address; on a loopback listener the control API answers only localhost, 127.0.0.1 or [::1] (a guard against DNS rebinding)", r.Host)}
	}
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(r, o) {
		return &RequestError{Status: http.StatusForbidden, Field: "Origin",
			Message: fmt.Sprintf("Origin %q is not this server's origin; the control API refuses cross-site requests", o)}
	}
	return nil
}

// arrivedOnLoopback reports whether the request's connection was accepted
// on a loopback address. A handler mounted elsewhere, or called without a
// server, has no local address and is not checked.
func arrivedOnLoopback(r *http.Request) bool {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.IsLoopback()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackHost reports whether a Host header value names a loopback host:
// localhost or a name under .localhost (which browsers resolve to loopback
// themselves, RFC 6761), or a loopback IP literal; with any port.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameOrigin reports whether origin is the origin the request was sent to.
func sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Path != "" || u.User != nil {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return u.Scheme == scheme && strings.EqualFold(u.Host, r.Host)
}

// checkJSONBody refuses a request body that is not declared JSON.
func checkJSONBody(r *http.Request) error {
	if r.ContentLength == 0 {
		return nil // no body (an unknown length means a chunked one)
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/json" {
		return nil
	}
	if ct == "" {
		ct = "none"
	} else {
		ct = fmt.Sprintf("%q", ct)
	}
	return &RequestError{Status: http.StatusUnsupportedMediaType, Field: "Content-Type",
		Message: fmt.Sprintf("Content-Type %s: the control API takes JSON bodies sent with Content-Type: application/json (curl: -H 'Content-Type: application/json')", ct)}
}

// decodeControl reads a JSON body strictly into dst: a field dst does not
// have, a value of the wrong type or anything after the value is a 400
// naming it. An empty body reads as {}.
func decodeControl(r *http.Request, dst any) error {
	body, err := readBody(r, maxJSONBody)
	if err != nil {
		return err
	}
	return decodeStrict(body, dst)
}

// decodeControlOneOrMany reads a body that is one object or a list of
// them into *list.
func decodeControlOneOrMany[T any](r *http.Request, list *[]T) error {
	body, err := readBody(r, maxJSONBody)
	if err != nil {
		return err
	}
	if b := bytes.TrimSpace(body); len(b) > 0 && b[0] == '[' {
		return decodeStrict(body, list)
	}
	var one T
	if err := decodeStrict(body, &one); err != nil {
		return err
	}
	*list = []T{one}
	return nil
}

func decodeStrict(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return bodyError(err, dst)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("", "body: more than one JSON value")
	}
	return nil
}

// bodyError words a decoding error, naming the field at fault.
func bodyError(err error, dst any) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return badRequest("", "body: must be a JSON %s, not %s", jsonKind(te.Type), te.Value)
		}
		return badRequest(te.Field, "must be a JSON %s, not %s", jsonKind(te.Type), te.Value)
	case errors.As(err, &se):
		return badRequest("", "body: invalid JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", "body: truncated JSON")
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if name, ok := strings.CutPrefix(msg, "unknown field "); ok {
		name = strings.Trim(name, `"`)
		hint := ""
		if near := nearestField(reflect.TypeOf(dst), name); near != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", near)
		}
		return badRequest(name, "unknown field %q%s", name, hint)
	}
	return badRequest("", "body: %s", msg)
}

// jsonKind names the JSON form of a Go type, for error messages.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	}
	return "value"
}

// nearestField returns the JSON field name of t (or of a struct within
// it) closest to name, when one is within two edits, else "".
func nearestField(t reflect.Type, name string) string {
	best, bestD := "", 3
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if tag == "-" {
				continue
			}
			if f.Anonymous && tag == "" {
				walk(f.Type)
				continue
			}
			if tag == "" {
				tag = f.Name
			}
			if d := editDistance(strings.ToLower(tag), strings.ToLower(name)); d < bestD {
				best, bestD = tag, d
			}
			walk(f.Type)
		}
	}
	walk(t)
	return best
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
