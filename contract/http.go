package contract

// ProvisionRequest is the body of POST /relay/provision. The gateway sends
// one per fronted platform, authenticated with its identity bearer.
type ProvisionRequest struct {
	GatewayID       string   `json:"gatewayId"`
	Platform        string   `json:"platform"`
	BotID           string   `json:"botId"`
	GatewayEndpoint string   `json:"gatewayEndpoint"`
	RouteKeys       []string `json:"routeKeys"`
	// InstanceID and WakeURL are omitted, never "", when unset (HTTP-001).
	InstanceID string `json:"instanceId,omitempty"`
	WakeURL    string `json:"wakeUrl,omitempty"`
}

// ProvisionResponse is the 200 answer to a provision.
type ProvisionResponse struct {
	Secret      string   `json:"secret"`
	DeliveryKey string   `json:"deliveryKey"`
	Tenant      string   `json:"tenant"`
	GatewayID   string   `json:"gatewayId"`
	RouteKeys   []string `json:"routeKeys"`
}

// EnrollRequest is the body of POST /relay/enroll.
type EnrollRequest struct {
	EnrollmentToken string `json:"enrollmentToken"`
	GatewayID       string `json:"gatewayId"`
}

// EnrollResponse is the 200 answer to an enroll.
type EnrollResponse struct {
	Secret      string `json:"secret"`
	DeliveryKey string `json:"deliveryKey"`
	Tenant      string `json:"tenant"`
	GatewayID   string `json:"gatewayId"`
}

// PolicyRequest is the body of POST /relay/policy: the relevance policy of
// one platform, a full replace of any earlier one.
type PolicyRequest struct {
	Platform           string   `json:"platform"`
	RequireAddress     bool     `json:"requireAddress"`
	FreeResponseScopes []string `json:"freeResponseScopes"`
	AllowOtherBots     bool     `json:"allowOtherBots"`
}

// IsDefault reports whether the policy is the all-default one a connector
// assumes when none was declared.
func (p PolicyRequest) IsDefault() bool {
	return !p.RequireAddress && !p.AllowOtherBots && len(p.FreeResponseScopes) == 0
}

// PolicyResponse is the 200 answer to a policy declaration.
type PolicyResponse struct {
	OK bool `json:"ok"`
}

// MediaUploadResponse is the 200 answer to POST /relay/media.
type MediaUploadResponse struct {
	ID   string `json:"id"`
	Size int64  `json:"size"`
}

// ErrorBody is the body of every HTTP error of the contract (HTTP-006).
type ErrorBody struct {
	Error string `json:"error"`
}

// Headers of the media upload.
const (
	HeaderMediaFilename = "X-Media-Filename"
	MediaUserAgent      = "HermesAgent-Relay/1.0 (+https://github.com/NousResearch/hermes-agent)"
)
