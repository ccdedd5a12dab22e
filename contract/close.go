package contract

// Close codes of the contract. Every code except CloseUnauthorized is
// retryable for the gateway; CloseNormal is terminal only after the gateway's
// own disconnect.
const (
	CloseNormal          = 1000 // normal close; gateway disconnect or dormant
	CloseGoingAway       = 1001 // connector shutting down
	CloseProtocolError   = 1002 // gateway: descriptor missing a required field
	CloseUnsupportedData = 1003
	CloseInvalidPayload  = 1007 // connector: malformed frame, non-object, bad UTF-8
	ClosePolicyViolation = 1008 // connector: platform not fronted, no hello
	CloseTooBig          = 1009 // frame over the size cap
	CloseInternalError   = 1011 // keepalive timeout or internal error
	CloseTryAgainLater   = 1013 // throttled or held; retry with backoff
	CloseUnauthorized    = 4401 // upgrade token refused; see ReasonExpired
	CloseConflict        = 4409 // a second socket of one gateway instance
)

// Close reasons the contract gives a meaning to.
const (
	ReasonUnauthorized       = "unauthorized"
	ReasonExpired            = "expired"
	ReasonDuplicate          = "duplicate"
	ReasonReplaced           = "replaced"
	ReasonMalformedFrame     = "malformed frame"
	ReasonNotObject          = "frame is not an object"
	ReasonFrameTooLarge      = "frame too large"
	ReasonPlatformNotFronted = "platform not fronted"
	ReasonNoHello            = "no hello"
	ReasonInvalidDescriptor  = "invalid descriptor"
	ReasonKeepaliveTimeout   = "keepalive timeout"
	ReasonThrottled          = "throttled"
	ReasonShutdown           = "shutting down"
)

// IsRevocation reports whether a close with this code and reason can mean the
// gateway's secret was revoked. Only a 4401 whose reason is not "expired"
// qualifies; the gateway's strike rules decide whether it is terminal.
func IsRevocation(code int, reason string) bool {
	return code == CloseUnauthorized && reason != ReasonExpired
}
