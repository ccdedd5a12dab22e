package harbor

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"
)

// defaultTenant is the tenant of gateways and enrollment tokens that name
// none.
const defaultTenant = "harbor-tenant"

// gateway is an enrolled gateway. Its secrets are the verify list of
// AUTH-005: the current one first, then the previous one until its window
// ends.
type gateway struct {
	id          string
	tenant      string
	instance    string
	platforms   []string
	secret      string
	prevSecret  string
	prevUntil   time.Time
	deliveryKey string
	wakeURL     string
	revoked     bool

	outLog  []outboundRecord
	scripts []*script
}

func (g *gateway) fronts(p string) bool {
	for _, x := range g.platforms {
		if x == p {
			return true
		}
	}
	return false
}

// verifyList returns the secrets a token of g may be signed with at now.
func (g *gateway) verifyList(now time.Time) []string {
	l := []string{g.secret}
	if g.prevSecret != "" && now.Before(g.prevUntil) {
		l = append(l, g.prevSecret)
	}
	return l
}

// script makes the next actions of a gateway to a chat egress declines.
type script struct {
	chatID string
	times  int // uses left; 0 means unlimited
}

// outboundRecord is one action a gateway sent, as the control API shows it.
type outboundRecord struct {
	RequestID        string          `json:"requestId"`
	Platform         string          `json:"platform,omitempty"`
	ResolvedPlatform string          `json:"resolvedPlatform"`
	Op               string          `json:"op"`
	Action           json.RawMessage `json:"action"`
	Result           map[string]any  `json:"result"`
	At               time.Time       `json:"at"`
}

// instance is the unit of buffering and delivery, scoped to its tenant so
// two tenants' instance ids never meet.
type instance struct {
	tenant string
	id     string

	flipped bool
	buffer  []*entry
	bytes   int
	// drain is the socket the buffer is being replayed to, nil when no
	// drain runs. inflight is the one entry sent and not yet acked: harbor
	// drains with a window of one.
	drain    *conn
	inflight *entry

	wakeURL       string
	lastWake      time.Time
	wokeSinceFlip bool

	policies map[string]policy
	conns    []*conn // open sockets, oldest first
}

// entry is one buffered frame awaiting delivery.
type entry struct {
	id         string
	frameType  string // "inbound" or "passthrough_forward"
	platform   string
	payload    json.RawMessage
	deliveries int
	at         time.Time
}

func (e *entry) size() int { return len(e.payload) + len(e.id) + 64 }

// policy is a relevance policy (section 9.5).
type policy struct {
	Platform           string   `json:"platform"`
	RequireAddress     bool     `json:"requireAddress"`
	FreeResponseScopes []string `json:"freeResponseScopes"`
	AllowOtherBots     bool     `json:"allowOtherBots"`
}

// tenantState is what harbor's platforms remember per tenant: the sessions
// it delivered (for interrupts and follow_up), chats it has seen, messages
// and prompts it rendered. Each map is bounded by a FIFO of its keys.
type tenantState struct {
	sessions fifoMap[sessionOwner]
	chats    fifoMap[chatInfo]
	messages fifoMap[*sentMessage]
	drafts   fifoMap[string]
}

type sessionOwner struct {
	instance string // instance key
	platform string
	chatID   string
}

type chatInfo struct {
	name, kind string
}

type sentMessage struct {
	gatewayID string
	platform  string
	chatID    string
	prompt    *promptRec
	deleted   bool
}

type promptRec struct {
	promptID string
	options  map[string]string // id -> label
}

// fifoMap is a map that forgets its oldest keys past a bound.
type fifoMap[V any] struct {
	m     map[string]V
	order []string
	max   int
}

func newFIFO[V any](max int) fifoMap[V] { return fifoMap[V]{m: map[string]V{}, max: max} }

func (f *fifoMap[V]) get(k string) (V, bool) { v, ok := f.m[k]; return v, ok }

func (f *fifoMap[V]) put(k string, v V) {
	if _, ok := f.m[k]; !ok {
		f.order = append(f.order, k)
		for len(f.order) > f.max {
			delete(f.m, f.order[0])
			f.order = f.order[1:]
		}
	}
	f.m[k] = v
}

func newTenantState() *tenantState {
	return &tenantState{
		sessions: newFIFO[sessionOwner](maxSessionKeys),
		chats:    newFIFO[chatInfo](maxChats),
		messages: newFIFO[*sentMessage](maxMessages),
		drafts:   newFIFO[string](maxMessages),
	}
}

// enrollToken is a single-use enrollment token.
type enrollToken struct {
	tenant    string
	platforms []string
	expires   time.Time
	used      bool
}

// mediaItem is one uploaded file.
type mediaItem struct {
	tenant      string
	data        []byte
	contentType string
	filename    string
	expires     time.Time
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func instanceKey(tenant, id string) string { return tenant + "\x00" + id }

// mintID makes harbor's own ids: prefix, a base-36 sequence number and a
// random suffix, e.g. "hm_1b.9f3c".
func mintID(prefix string, seq uint64) string {
	return prefix + strconv.FormatUint(seq, 36) + "." + randomHex(2)
}
