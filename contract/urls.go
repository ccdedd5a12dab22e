package contract

import "strings"

// Paths of the contract's endpoints, relative to the connector base URL.
const (
	PathRelay     = "/relay"
	PathProvision = "/relay/provision"
	PathEnroll    = "/relay/enroll"
	PathPolicy    = "/relay/policy"
	PathMedia     = "/relay/media"
)

// DialURL normalises a configured connector URL into the WebSocket URL a
// gateway dials: it trims whitespace, maps https to wss and http to ws,
// strips trailing slashes and appends /relay unless already there. It is
// idempotent. A URL without a scheme is left schemeless, as the reference
// gateway does; dialling it then fails.
func DialURL(configured string) string {
	u := strings.TrimSpace(configured)
	switch {
	case hasPrefixFold(u, "https://"):
		u = "wss://" + u[len("https://"):]
	case hasPrefixFold(u, "http://"):
		u = "ws://" + u[len("http://"):]
	}
	u = strings.TrimRight(u, "/")
	if !strings.HasSuffix(u, PathRelay) {
		u += PathRelay
	}
	return u
}

// BaseURL derives the connector's HTTP base URL from a configured or dial
// URL: ws maps to http, wss to https, and trailing slashes and a trailing
// /relay are stripped.
func BaseURL(configured string) string {
	u := strings.TrimSpace(configured)
	switch {
	case hasPrefixFold(u, "wss://"):
		u = "https://" + u[len("wss://"):]
	case hasPrefixFold(u, "ws://"):
		u = "http://" + u[len("ws://"):]
	}
	u = strings.TrimRight(u, "/")
	u = strings.TrimSuffix(u, PathRelay)
	return strings.TrimRight(u, "/")
}

// ProvisionURL returns the provision endpoint for a configured connector URL.
func ProvisionURL(configured string) string { return BaseURL(configured) + PathProvision }

// EnrollURL returns the enroll endpoint for a configured connector URL.
func EnrollURL(configured string) string { return BaseURL(configured) + PathEnroll }

// PolicyURL returns the policy endpoint for a configured connector URL.
func PolicyURL(configured string) string { return BaseURL(configured) + PathPolicy }

// MediaUploadURL returns the media upload endpoint for a configured
// connector URL.
func MediaUploadURL(configured string) string { return BaseURL(configured) + PathMedia }

// MediaURL returns the download URL of a re-hosted media item.
func MediaURL(configured, id string) string { return BaseURL(configured) + PathMedia + "/" + id }

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
