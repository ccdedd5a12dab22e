package harbor

import "fmt"

// Deviation is one planted connector bug: a single, realistic mistake that
// breaks exactly one MUST of the contract.
type Deviation struct {
	// Name selects it in Options.Deviation (HARBOR_DEVIATION for the cmd).
	Name string
	// Requirement is the contract requirement ID it breaks.
	Requirement string
	// Description says what harbor does instead.
	Description string
}

// Names of the planted deviations.
const (
	DevProvisionCrossTenant = "provision-cross-tenant-secret"
	DevAckClearsBuffer      = "ack-clears-buffer"
	DevInterruptToSender    = "interrupt-to-sender"
	DevSessionKeyNoThread   = "session-key-no-thread"
	DevSecondIdleUnacked    = "second-idle-unacked"
	DevPolicyMerge          = "policy-merge"
	DevPassthroughDropped   = "passthrough-not-buffered"
	DevExpInclusive         = "exp-inclusive"
	DevRotationDropsOld     = "rotation-drops-old"
	DevWakeEveryEvent       = "wake-every-event"
	DevDrainBeforeDesc      = "drain-before-descriptor"
	DevBotDMFiltered        = "bot-dm-filtered"
	DevEnrollReusable       = "enroll-token-reusable"
	DevNewBufferIDs         = "new-buffer-id-on-redelivery"
	DevLiveDuringDrain      = "live-during-drain"
	DevLatestDefault        = "latest-descriptor-default"
)

// Deviations lists every planted deviation.
var Deviations = []Deviation{
	{DevProvisionCrossTenant, "HTTP-012", "provisioning a gateway id that belongs to another tenant answers 200 with that tenant's secret instead of 409"},
	{DevAckClearsBuffer, "IDLE-010", "an inbound_ack releases every entry of the instance's buffer, delivered or not, instead of only the acked one"},
	{DevInterruptToSender, "IN-011", "an interrupt is pushed back down the sending socket instead of to the instance that owns the session, which differs when two instances share a tenant"},
	{DevSessionKeyNoThread, "SKEY-003", "session keys are computed without the thread part, so an interrupt naming a thread session resolves to nothing and is dropped"},
	{DevSecondIdleUnacked, "IDLE-004", "only the first going_idle on a connection is answered; a second one gets no going_idle_ack"},
	{DevPolicyMerge, "HTTP-014", "a policy declaration is merged into the previous one (requireAddress stays true once set, scopes accumulate) instead of replacing it"},
	{DevPassthroughDropped, "IDLE-007", "a passthrough_forward for an instance that is flipped or has no live socket is dropped instead of buffered"},
	{DevExpInclusive, "AUTH-006", "a token is treated as expired at exactly its exp (now >= exp) instead of only after it"},
	{DevRotationDropsOld, "AUTH-005", "a secret rotation drops the previous secret at once instead of keeping it on the verify list for the rotation window"},
	{DevWakeEveryEvent, "WAKE-003", "every buffered event of a flipped instance sends a wake request; the cooldown is ignored"},
	{DevDrainBeforeDesc, "IDLE-009", "the replay of the buffer starts on the first hello, before its descriptor is written"},
	{DevBotDMFiltered, "HTTP-016", "a DM from a bot is held back unless allowOtherBots is true, although DMs always pass"},
	{DevEnrollReusable, "HTTP-013", "an enrollment token can be redeemed any number of times"},
	{DevNewBufferIDs, "IDLE-009", "a buffer entry redelivered on a later connection gets a fresh bufferId instead of the same one"},
	{DevLiveDuringDrain, "IDLE-012", "the flip is cleared when a drain starts, so an event arriving while the drain waits for acks is delivered live instead of queued behind the backlog"},
	{DevLatestDefault, "OUT-013", "an untagged outbound goes to the platform of the latest descriptor sent on the connection instead of the first"},
}

func checkDeviation(name string) error {
	if name == "" {
		return nil
	}
	for _, d := range Deviations {
		if d.Name == name {
			return nil
		}
	}
	return fmt.Errorf("harbor: unknown deviation %q", name)
}
