package main

// probes maps each probe name a mutant names to its check.
var probes = map[string]probe{
	// connector side (probes_connector.go)
	"interrupt-other-instance": {Connector, probeInterruptOtherInstance},
	"interrupt-group":          {Connector, probeInterruptGroup},
	"drain-out-of-order-ack":   {Connector, probeDrainOutOfOrderAck},
	"drain-other-platform":     {Connector, probeDrainOtherPlatform},
	"live-unhelloed-platform":  {Connector, probeLiveUnhelloedPlatform},
	"live-while-drain-unacked": {Connector, probeLiveWhileDrainUnacked},
	"buffered-forward-type":    {Connector, probeBufferedForward},
	"second-going-idle":        {Connector, probeSecondGoingIdle},
	"wake-bare":                {Connector, probeWakeBare},
	"wake-cooldown":            {Connector, probeWakeCooldown},
	"policy-replaced":          {Connector, probePolicyReplaced},
	"bot-dm":                   {Connector, probeBotDM},
	"policy-scope-id":          {Connector, probePolicyScopeID},
	"provision-other-tenant":   {Connector, probeProvisionOtherTenant},
	"reprovision-same-secret":  {Connector, probeReprovisionSameSecret},
	"enroll-other-tenant":      {Connector, probeEnrollOtherTenant},
	"frame-cap":                {Connector, probeFrameCap},
	"gate-destination":         {Connector, probeGateDestination},
	"rename-condition":         {Connector, probeRenameCondition},

	// gateway side (probes_gateway.go)
	"ack-replay-of-admitted":     {Gateway, probeAckReplayOfAdmitted},
	"ack-buffered-press-forward": {Gateway, probeAckBufferedPressForward},
	"ack-replay-in-flight":       {Gateway, probeAckReplayInFlight},
	"identical-pending-actions":  {Gateway, probeIdenticalPendingActions},
	"shape-by-destination":       {Gateway, probeShapeByDestination},
	"draft-needs-streaming":      {Gateway, probeDraftNeedsStreaming},
	"split-limit":                {Gateway, probeSplitLimit},
	"interrupt-group-one-user":   {Gateway, probeInterruptGroupOneUser},
	"interrupt-key-group":        {Gateway, probeInterruptKeyGroup},
	"dedupe-per-chat":            {Gateway, probeDedupePerChat},
	"dedupe-memory":              {Gateway, probeDedupeMemory},
	"download-bearer-path":       {Gateway, probeDownloadBearerPath},
	"media-decline":              {Gateway, probeMediaDecline},
	"prompt-decline":             {Gateway, probePromptDecline},
	"hellos-without-descriptor":  {Gateway, probeHellosWithoutDescriptor},
	"metadata-thread":            {Gateway, probeMetadataThread},
}
