package simulator

import (
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// ResultScript overrides the answer to matching outbound actions. Empty
// match fields match anything. Scripts are tried in the order they were
// added; the first that matches and has uses left wins. Gating comes first:
// an unsupported op or an unfronted platform is answered as the contract
// says, whatever the scripts.
type ResultScript struct {
	ID        string `json:"id,omitempty"`
	GatewayID string `json:"gatewayId,omitempty"`
	Platform  string `json:"platform,omitempty"`
	Op        string `json:"op,omitempty"`
	ChatID    string `json:"chatId,omitempty"`

	// Result is sent verbatim as the result object.
	Result json.RawMessage `json:"result,omitempty"`
	// Fail answers success:false with this error and code.
	Fail *ScriptFailure `json:"fail,omitempty"`
	// EgressDeclined answers the contract's egress decline (OUT-011).
	EgressDeclined bool `json:"egressDeclined,omitempty"`
	// Delay holds the answer back this long on the simulator's clock.
	Delay time.Duration `json:"-"`
	// NeverAnswer sends no result at all.
	NeverAnswer bool `json:"neverAnswer,omitempty"`
	// Times limits how many actions the script answers; 0 means every one.
	Times int `json:"times,omitempty"`
	// Used counts the actions it answered.
	Used int `json:"used"`
}

// ScriptFailure is a scripted failure.
type ScriptFailure struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

type scriptSet struct {
	mu   sync.Mutex
	list []*ResultScript
	seq  int
}

func (ss *scriptSet) reset() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.list = nil
}

func (ss *scriptSet) match(gw, platform, op, chat string) (ResultScript, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, sc := range ss.list {
		if (sc.GatewayID == "" || sc.GatewayID == gw) && (sc.Platform == "" || sc.Platform == platform) &&
			(sc.Op == "" || sc.Op == op) && (sc.ChatID == "" || sc.ChatID == chat) &&
			(sc.Times == 0 || sc.Used < sc.Times) {
			sc.Used++
			return *sc, true
		}
	}
	return ResultScript{}, false
}

// Script adds a result script and returns its id.
func (s *Server) Script(sc ResultScript) (string, error) {
	if sc.Result != nil {
		r, err := compactJSON(sc.Result)
		if err != nil || len(r) == 0 || r[0] != '{' {
			return "", badRequest("result", "must be a JSON object")
		}
		if err := checkFrameSize("result", r); err != nil {
			return "", err
		}
		sc.Result = r
	}
	if sc.Fail != nil && sc.Fail.Error == "" {
		return "", badRequest("fail.error", "must be a non-empty string")
	}
	if sc.Op != "" && !contract.IsKnownOp(sc.Op) {
		return "", badRequest("op", "unknown op %q", sc.Op)
	}
	if sc.Delay < 0 || sc.Times < 0 {
		return "", badRequest("delay", "delay and times must not be negative")
	}
	s.scripts.mu.Lock()
	s.scripts.seq++
	sc.ID, sc.Used = "script-"+strconv.Itoa(s.scripts.seq), 0
	s.scripts.list = append(s.scripts.list, &sc)
	s.scripts.mu.Unlock()
	s.note(JournalEntry{Kind: JournalControl, Detail: "result script " + sc.ID + " added"})
	return sc.ID, nil
}

// Scripts returns the result scripts, in match order.
func (s *Server) Scripts() []ResultScript {
	s.scripts.mu.Lock()
	defer s.scripts.mu.Unlock()
	out := []ResultScript{}
	for _, sc := range s.scripts.list {
		out = append(out, *sc)
	}
	return out
}

// ClearScripts removes every result script.
func (s *Server) ClearScripts() {
	s.scripts.reset()
	s.note(JournalEntry{Kind: JournalControl, Detail: "result scripts cleared"})
}
