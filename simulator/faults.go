package simulator

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// Direction is which way a frame travels.
type Direction string

// Directions of a frame fault.
const (
	// DirIn is gateway to simulator.
	DirIn Direction = "in"
	// DirOut is simulator to gateway.
	DirOut Direction = "out"
	// DirBoth matches either.
	DirBoth Direction = "both"
)

const (
	dirIn  = DirIn
	dirOut = DirOut
)

// Fault drops or delays frames, like a toxiproxy toxic but per frame. A
// dropped inbound frame is never acted on; a dropped outbound frame is never
// written. A delayed frame is handled or written later on the simulator's
// clock, so it may overtake or be overtaken by others.
type Fault struct {
	ID string `json:"id,omitempty"`
	// GatewayID limits the fault to one gateway; "" means every gateway.
	GatewayID string `json:"gatewayId,omitempty"`
	// Direction is DirIn, DirOut or DirBoth (the default).
	Direction Direction `json:"direction,omitempty"`
	// FrameTypes limits the fault to these frame types; empty means all.
	FrameTypes []string `json:"frameTypes,omitempty"`
	// Drop drops matching frames.
	Drop bool `json:"drop,omitempty"`
	// Delay holds matching frames back; ignored when Drop is set.
	Delay time.Duration `json:"-"`
	// Probability that a matching frame is affected, in (0, 1]; 0 means 1.
	Probability float64 `json:"probability,omitempty"`
	// Seed seeds the fault's random source, so a run is reproducible.
	Seed int64 `json:"seed,omitempty"`
	// Times limits how many frames the fault affects; 0 means no limit.
	Times int `json:"times,omitempty"`
	// Hits counts the frames it affected.
	Hits int `json:"hits"`
}

type faultState struct {
	Fault
	rng *rand.Rand
}

type faultAction struct {
	drop  bool
	delay time.Duration
}

// faultSet holds the active faults. active is read on every frame without
// locking, so frames pay nothing while no fault is set.
type faultSet struct {
	mu      sync.Mutex
	list    []*faultState
	n       atomic.Int32
	seq     int
	nopongs map[string]bool // gateway id -> pongs withheld; "" means every gateway
	nopongN atomic.Int32
}

func (fs *faultSet) active() bool { return fs.n.Load() > 0 }

func (fs *faultSet) reset() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.list, fs.nopongs = nil, nil
	fs.n.Store(0)
	fs.nopongN.Store(0)
}

func (fs *faultSet) match(dir Direction, gw, typ string) faultAction {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.list {
		if f.GatewayID != "" && f.GatewayID != gw {
			continue
		}
		if f.Direction != DirBoth && f.Direction != dir {
			continue
		}
		if len(f.FrameTypes) > 0 && !contains(f.FrameTypes, typ) {
			continue
		}
		if f.Times > 0 && f.Hits >= f.Times {
			continue
		}
		if f.Probability > 0 && f.Probability < 1 && f.rng.Float64() >= f.Probability {
			continue
		}
		f.Hits++
		return faultAction{drop: f.Drop, delay: f.Delay}
	}
	return faultAction{}
}

func (fs *faultSet) pongsStopped(gw string) bool {
	if fs.nopongN.Load() == 0 {
		return false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.nopongs[""] || fs.nopongs[gw]
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// frameTypes are the frame types a fault may name: the contract's, both
// directions.
var frameTypes = []string{
	contract.TypeHello, contract.TypeOutbound, contract.TypeInterrupt, contract.TypeGoingIdle, contract.TypeInboundAck,
	contract.TypeDescriptor, contract.TypeInbound, contract.TypeOutboundResult, contract.TypeInterruptInbound,
	contract.TypeGoingIdleAck, contract.TypePassthroughForward,
}

// AddFault activates a frame fault and returns its id.
func (s *Server) AddFault(f Fault) (string, error) {
	if f.Direction == "" {
		f.Direction = DirBoth
	}
	switch f.Direction {
	case DirIn, DirOut, DirBoth:
	default:
		return "", badRequest("direction", "must be in, out or both, got %q", f.Direction)
	}
	if f.Delay < 0 {
		return "", badRequest("delay", "must not be negative")
	}
	if !f.Drop && f.Delay == 0 {
		return "", badRequest("drop", "a fault must drop or delay")
	}
	for _, t := range f.FrameTypes {
		if !slices.Contains(frameTypes, t) {
			return "", badRequest("frameTypes", "unknown frame type %q (known: %s)", t, strings.Join(frameTypes, ", "))
		}
	}
	if f.Probability < 0 || f.Probability > 1 {
		return "", badRequest("probability", "must be within 0 and 1")
	}
	if f.Times < 0 {
		return "", badRequest("times", "must not be negative")
	}
	fs := &s.faults
	fs.mu.Lock()
	fs.seq++
	f.ID, f.Hits = "fault-"+strconv.Itoa(fs.seq), 0
	fs.list = append(fs.list, &faultState{Fault: f, rng: rand.New(rand.NewPCG(uint64(f.Seed), 0x72656c61))})
	fs.n.Store(int32(len(fs.list)))
	fs.mu.Unlock()
	s.note(JournalEntry{Kind: JournalControl, GatewayID: f.GatewayID, Detail: fmt.Sprintf("fault %s added: direction %s, drop %v, delay %s, probability %g", f.ID, f.Direction, f.Drop, f.Delay, f.Probability)})
	return f.ID, nil
}

// Faults returns the active frame faults.
func (s *Server) Faults() []Fault {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	out := []Fault{}
	for _, f := range s.faults.list {
		out = append(out, f.Fault)
	}
	return out
}

// ClearFaults removes every frame fault, answers pings again and accepts
// connections again.
func (s *Server) ClearFaults() {
	s.faults.reset()
	s.refuse.Store(false)
	s.note(JournalEntry{Kind: JournalControl, Detail: "faults cleared"})
}

// StopPongs makes the simulator stop (or resume) answering a gateway's
// WebSocket pings, so its keepalive times out; "" means every gateway.
func (s *Server) StopPongs(gatewayID string, stop bool) {
	fs := &s.faults
	fs.mu.Lock()
	if fs.nopongs == nil {
		fs.nopongs = map[string]bool{}
	}
	if stop {
		fs.nopongs[gatewayID] = true
	} else {
		delete(fs.nopongs, gatewayID)
	}
	fs.nopongN.Store(int32(len(fs.nopongs)))
	fs.mu.Unlock()
	s.note(JournalEntry{Kind: JournalControl, GatewayID: gatewayID, Detail: fmt.Sprintf("pongs stopped=%v", stop)})
}

// RefuseConnections makes the simulator close every new socket with 1013
// "throttled" (RC-003), or accept them again.
func (s *Server) RefuseConnections(refuse bool) {
	s.refuse.Store(refuse)
	s.note(JournalEntry{Kind: JournalControl, Detail: fmt.Sprintf("refusing connections=%v", refuse)})
}
