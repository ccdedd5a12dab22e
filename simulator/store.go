package simulator

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// Store persists the state that must survive a restart: enrollments, flips,
// buffered events, relevance policies and enrollment tokens. The server keeps
// the working copy in memory and tells the store about every change as a
// Mutation, in order; at start it reads everything back with Load.
//
// A Store must be safe for concurrent use. Apply must not return before the
// change is durable in the store's sense: the server acknowledges a
// going_idle (IDLE-003) and reports an event as buffered only after Apply
// returned nil.
type Store interface {
	// Load returns the state as of the last applied mutation.
	Load() (Snapshot, error)
	// Apply records one change.
	Apply(m Mutation) error
	// Flush makes every applied change durable on stable storage.
	Flush() error
	// Close flushes and releases the store.
	Close() error
}

// MutationKind names a change to persisted state.
type MutationKind string

// Mutation kinds.
const (
	// MutGateway creates or replaces Gateway.
	MutGateway MutationKind = "gateway"
	// MutFlip sets Flipped for Instance.
	MutFlip MutationKind = "flip"
	// MutAppend appends Entry to Instance's buffer, or puts it first when
	// Front is set.
	MutAppend MutationKind = "append"
	// MutRemove removes BufferID from Instance's buffer.
	MutRemove MutationKind = "remove"
	// MutPolicy replaces Policy of Instance for Policy.Platform.
	MutPolicy MutationKind = "policy"
	// MutForgetInstance drops Instance's flip, buffer and policies.
	MutForgetInstance MutationKind = "forget_instance"
	// MutToken creates or replaces Token.
	MutToken MutationKind = "token"
	// MutReset drops everything.
	MutReset MutationKind = "reset"
)

// Mutation is one change to persisted state; which fields are set depends
// on Kind.
type Mutation struct {
	Kind     MutationKind   `json:"kind"`
	Gateway  *GatewayRecord `json:"gateway,omitempty"`
	Instance string         `json:"instance,omitempty"`
	Flipped  bool           `json:"flipped,omitempty"`
	Entry    *BufferedEntry `json:"entry,omitempty"`
	// Front puts an appended entry first: a live delivery a closed socket
	// never wrote is older than anything buffered since.
	Front    bool                    `json:"front,omitempty"`
	BufferID string                  `json:"bufferId,omitempty"`
	Policy   *contract.PolicyRequest `json:"policy,omitempty"`
	Token    *EnrollmentTokenRecord  `json:"token,omitempty"`
}

// Snapshot is the whole persisted state.
type Snapshot struct {
	Gateways         []GatewayRecord         `json:"gateways"`
	Instances        []InstanceSnapshot      `json:"instances"`
	EnrollmentTokens []EnrollmentTokenRecord `json:"enrollmentTokens"`
}

// InstanceSnapshot is the persisted state of one gateway instance.
type InstanceSnapshot struct {
	ID       string                            `json:"id"`
	Flipped  bool                              `json:"flipped"`
	Policies map[string]contract.PolicyRequest `json:"policies,omitempty"`
	Buffer   []BufferedEntry                   `json:"buffer"`
}

// GatewayRecord is a gateway as stored. It holds its secrets, so it formats
// and logs with them redacted; only its JSON form carries them, for stores.
type GatewayRecord struct {
	GatewayID string `json:"gatewayId"`
	Tenant    string `json:"tenant"`
	// Secrets is the verify list: the current secret first, then any
	// previous ones still in their rotation window.
	Secrets     []string          `json:"secrets"`
	DeliveryKey string            `json:"deliveryKey"`
	InstanceID  string            `json:"instanceId"`
	WakeURL     string            `json:"wakeUrl,omitempty"`
	Platforms   []string          `json:"platforms"`
	RouteKeys   []string          `json:"routeKeys,omitempty"`
	BotIDs      map[string]string `json:"botIds,omitempty"`
	Revoked     bool              `json:"revoked,omitempty"`
	CreatedAt   time.Time         `json:"createdAt"`
}

// String describes the record without its secrets.
func (r GatewayRecord) String() string {
	return fmt.Sprintf("gateway %s (tenant %s, instance %s, platforms %v, %d secret(s) redacted, revoked %v)",
		r.GatewayID, r.Tenant, r.InstanceID, r.Platforms, len(r.Secrets), r.Revoked)
}

// LogValue keeps secrets out of structured logs.
func (r GatewayRecord) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("gatewayId", r.GatewayID),
		slog.String("tenant", r.Tenant),
		slog.String("instance", r.InstanceID),
		slog.Bool("revoked", r.Revoked),
	)
}

func (r GatewayRecord) fronts(platform string) bool {
	for _, p := range r.Platforms {
		if p == platform {
			return true
		}
	}
	return false
}

func (r GatewayRecord) clone() GatewayRecord {
	r.Secrets = append([]string(nil), r.Secrets...)
	r.Platforms = append([]string(nil), r.Platforms...)
	r.RouteKeys = append([]string(nil), r.RouteKeys...)
	if r.BotIDs != nil {
		m := make(map[string]string, len(r.BotIDs))
		for k, v := range r.BotIDs {
			m[k] = v
		}
		r.BotIDs = m
	}
	return r
}

// BufferedEntry is one event or forward waiting in an instance's buffer.
type BufferedEntry struct {
	BufferID string `json:"bufferId"`
	// FrameType is the frame it is replayed as: "inbound" or
	// "passthrough_forward".
	FrameType string `json:"frameType"`
	Platform  string `json:"platform"`
	// Payload is the event (inbound) or the forward (passthrough_forward)
	// object, compact.
	Payload    json.RawMessage `json:"payload"`
	BufferedAt time.Time       `json:"bufferedAt"`
	// Deliveries counts how often the entry was replayed; not persisted.
	Deliveries int `json:"deliveries"`
}

// EnrollmentTokenRecord is an enrollment token as stored: only its SHA-256,
// so a copy of the store cannot enroll anything.
type EnrollmentTokenRecord struct {
	Hash      string    `json:"hash"`
	Tenant    string    `json:"tenant"`
	Platforms []string  `json:"platforms,omitempty"`
	ExpiresAt time.Time `json:"expiresAt"`
	Used      bool      `json:"used,omitempty"`
}

// state is the persisted state as maps, with the logic that applies a
// mutation; the memory and file stores share it.
type state struct {
	gateways  map[string]GatewayRecord
	instances map[string]*InstanceSnapshot
	tokens    map[string]EnrollmentTokenRecord
	// bufIDs holds the buffer ids of each instance's buffer, so a second
	// append of one id (a duplicated record in a damaged file) is refused
	// instead of making two entries share an id.
	bufIDs map[string]map[string]struct{}
}

func newState() *state {
	return &state{
		gateways:  map[string]GatewayRecord{},
		instances: map[string]*InstanceSnapshot{},
		tokens:    map[string]EnrollmentTokenRecord{},
		bufIDs:    map[string]map[string]struct{}{},
	}
}

func (st *state) inst(id string) *InstanceSnapshot {
	in := st.instances[id]
	if in == nil {
		in = &InstanceSnapshot{ID: id}
		st.instances[id] = in
	}
	return in
}

// check reports why m cannot be applied, without changing anything; a
// store checks before it writes, so its log never holds a change that
// would not replay.
func (st *state) check(m Mutation) error {
	switch m.Kind {
	case MutGateway:
		if m.Gateway == nil || m.Gateway.GatewayID == "" {
			return fmt.Errorf("mutation %s: no gateway", m.Kind)
		}
	case MutAppend:
		if m.Entry == nil || m.Entry.BufferID == "" {
			return fmt.Errorf("mutation %s: no entry", m.Kind)
		}
		if _, dup := st.bufIDs[m.Instance][m.Entry.BufferID]; dup {
			return fmt.Errorf("mutation %s: buffer id %q is already in the buffer of instance %q", m.Kind, m.Entry.BufferID, m.Instance)
		}
	case MutPolicy:
		if m.Policy == nil {
			return fmt.Errorf("mutation %s: no policy", m.Kind)
		}
	case MutToken:
		if m.Token == nil || m.Token.Hash == "" {
			return fmt.Errorf("mutation %s: no token", m.Kind)
		}
	case MutFlip, MutRemove, MutForgetInstance, MutReset:
	default:
		return fmt.Errorf("unknown mutation kind %q", m.Kind)
	}
	return nil
}

func (st *state) apply(m Mutation) error {
	if err := st.check(m); err != nil {
		return err
	}
	switch m.Kind {
	case MutGateway:
		st.gateways[m.Gateway.GatewayID] = m.Gateway.clone()
	case MutFlip:
		st.inst(m.Instance).Flipped = m.Flipped
	case MutAppend:
		in := st.inst(m.Instance)
		if m.Front {
			in.Buffer = append([]BufferedEntry{*m.Entry}, in.Buffer...)
		} else {
			in.Buffer = append(in.Buffer, *m.Entry)
		}
		ids := st.bufIDs[m.Instance]
		if ids == nil {
			ids = map[string]struct{}{}
			st.bufIDs[m.Instance] = ids
		}
		ids[m.Entry.BufferID] = struct{}{}
	case MutRemove:
		in := st.instances[m.Instance]
		if in == nil {
			return nil
		}
		for i := range in.Buffer {
			if in.Buffer[i].BufferID == m.BufferID {
				if i == 0 {
					// Acks arrive oldest first; dropping the head is O(1).
					in.Buffer[0] = BufferedEntry{}
					in.Buffer = in.Buffer[1:]
				} else {
					in.Buffer = append(in.Buffer[:i], in.Buffer[i+1:]...)
				}
				delete(st.bufIDs[m.Instance], m.BufferID)
				break
			}
		}
	case MutPolicy:
		in := st.inst(m.Instance)
		if in.Policies == nil {
			in.Policies = map[string]contract.PolicyRequest{}
		}
		in.Policies[m.Policy.Platform] = *m.Policy
	case MutForgetInstance:
		delete(st.instances, m.Instance)
		delete(st.bufIDs, m.Instance)
	case MutToken:
		st.tokens[m.Token.Hash] = *m.Token
	case MutReset:
		*st = *newState()
	}
	return nil
}

// snapshot copies the state out, sorted so output is deterministic.
func (st *state) snapshot() Snapshot {
	snap := Snapshot{Gateways: []GatewayRecord{}, Instances: []InstanceSnapshot{}, EnrollmentTokens: []EnrollmentTokenRecord{}}
	for _, id := range keys(st.gateways) {
		snap.Gateways = append(snap.Gateways, st.gateways[id].clone())
	}
	for _, id := range keys(st.instances) {
		in := st.instances[id]
		cp := InstanceSnapshot{ID: in.ID, Flipped: in.Flipped, Buffer: append([]BufferedEntry{}, in.Buffer...)}
		if len(in.Policies) > 0 {
			cp.Policies = map[string]contract.PolicyRequest{}
			for k, v := range in.Policies {
				cp.Policies[k] = v
			}
		}
		snap.Instances = append(snap.Instances, cp)
	}
	for _, h := range keys(st.tokens) {
		snap.EnrollmentTokens = append(snap.EnrollmentTokens, st.tokens[h])
	}
	sort.Slice(snap.EnrollmentTokens, func(i, j int) bool { return snap.EnrollmentTokens[i].Hash < snap.EnrollmentTokens[j].Hash })
	return snap
}

// size counts the records a compacted log would hold.
func (st *state) size() int {
	n := len(st.gateways) + len(st.tokens)
	for _, in := range st.instances {
		n += 1 + len(in.Policies) + len(in.Buffer)
	}
	return n
}

// MemoryStore keeps state in memory only. It still records every mutation,
// so handing the same MemoryStore to a new Server (after closing the old
// one) restores everything, which tests use to simulate a restart.
type MemoryStore struct {
	mu sync.Mutex
	st *state
}

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{st: newState()} }

// Load returns the current state.
func (m *MemoryStore) Load() (Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.snapshot(), nil
}

// Apply records one change.
func (m *MemoryStore) Apply(mu Mutation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.apply(mu)
}

// Flush does nothing: memory is as durable as this store gets.
func (m *MemoryStore) Flush() error { return nil }

// Close does nothing; the state stays readable for a later Server.
func (m *MemoryStore) Close() error { return nil }
