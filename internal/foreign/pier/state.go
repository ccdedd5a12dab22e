package pier

import (
	"time"
)

// gateway is an enrolled gateway: its secrets, platforms and instance.
type gateway struct {
	id         string
	tenant     *tenant
	platforms  []string
	inst       *instance
	secret     string
	prevSecret string
	prevUntil  time.Time
	revoked    bool
}

// fronts reports whether pier fronts platform for the gateway.
func (g *gateway) fronts(platform string) bool {
	for _, p := range g.platforms {
		if p == platform {
			return true
		}
	}
	return false
}

// verifyList returns the secrets that verify the gateway's tokens at now.
func (g *gateway) verifyList(now time.Time) []string {
	if g.revoked {
		return nil
	}
	l := []string{g.secret}
	if g.prevSecret != "" && now.Before(g.prevUntil) {
		l = append(l, g.prevSecret)
	}
	return l
}

// instance is the unit of buffering and delivery (contract 1.2): the
// provisioned instance id within a tenant, else the gateway id.
type instance struct {
	id      string
	tag     string // suffix of the instance's buffer ids
	tenant  *tenant
	flipped bool
	buffer  []*entry
	bytes   int
	seq     uint64
	live    *relayConn // the instance's one socket (policy reject)
	ghost   *ghost     // a socket that ended unnoticed (Options.LateCloseNotice)
}

// entry is one buffered inbound event.
type entry struct {
	id       string
	platform string
	event    []byte // the event object, encoded
	order    uint64 // the event's pier_seq; the buffer is sorted by it
}

func (in *instance) find(id string) int {
	for i, e := range in.buffer {
		if e.id == id {
			return i
		}
	}
	return -1
}

func (in *instance) remove(i int) {
	in.bytes -= len(in.buffer[i].event)
	in.buffer = append(in.buffer[:i], in.buffer[i+1:]...)
}

// tenant holds what pier, as a platform, knows about one tenant's
// conversations. Chats and messages are per tenant: another tenant's chat
// is as unknown as a chat that never existed.
type tenant struct {
	name     string
	chats    *memo[chatInfo]   // platform \x00 chat id
	messages *memo[message]    // message id
	threads  *memo[thread]     // thread id
	sessions *memo[sessionRef] // session key
}

type chatInfo struct {
	name string
	kind string
}

type message struct {
	platform string
	chat     string
}

type thread struct {
	platform string
	parent   string
	name     string
	created  bool // opened by thread_create
}

// sessionRef is where a session key leads: the instance pier delivered the
// conversation to, and its chat.
type sessionRef struct {
	inst     *instance
	platform string
	chat     string
}

func chatKey(platform, chat string) string { return platform + "\x00" + chat }
