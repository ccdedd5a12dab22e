package contract

import "bytes"

// The hot frames travel by the hundred thousand a second, and a relay
// usually holds their payload already encoded: the event it validated, the
// result it planned, the id it was sent. The functions here write and read
// those frames around such bytes, so that no package but this one spells
// out a frame. Each writes byte for byte what AppendFrame writes for the
// same frame (TRN-002) and each reader decodes what DecodeFrame decodes;
// tests and fuzz targets hold them to it.

// AppendInbound appends an inbound frame around event, newline included:
// what AppendFrame writes for Inbound{Event: event, BufferID: bufferID},
// without compacting the event again. event must be a JSON object in
// compact form, as ScanEvent writes it. A live delivery has no bufferID;
// the member is then left out (IN-001).
func AppendInbound(dst, event []byte, bufferID string) []byte {
	dst = append(dst, `{"type":"inbound","event":`...)
	return appendDeliveryTail(append(dst, event...), bufferID)
}

// AppendPassthroughForward appends a passthrough_forward frame around
// forward, newline included, as AppendInbound does around an event.
// forward must be a JSON object in compact form.
func AppendPassthroughForward(dst, forward []byte, bufferID string) []byte {
	dst = append(dst, `{"type":"passthrough_forward","forward":`...)
	return appendDeliveryTail(append(dst, forward...), bufferID)
}

func appendDeliveryTail(dst []byte, bufferID string) []byte {
	if bufferID != "" {
		dst = append(dst, `,"bufferId":`...)
		dst = appendString(dst, bufferID)
	}
	return append(dst, "}\n"...)
}

// AppendDescriptor appends a descriptor frame around descriptor, newline
// included. descriptor must be a JSON object in compact form; it is kept
// as is, unknown keys included, so a connector can serve a descriptor
// file verbatim.
func AppendDescriptor(dst, descriptor []byte) []byte {
	dst = append(dst, `{"type":"descriptor","descriptor":`...)
	dst = append(dst, descriptor...)
	return append(dst, "}\n"...)
}

// AppendOutboundResult appends an outbound_result frame answering
// requestID, newline included, around result, which must be a JSON object
// in compact form (Result.MarshalJSON writes one). The result is kept as
// is, so a connector can send any shape, even one breaking the contract.
func AppendOutboundResult(dst []byte, requestID string, result []byte) []byte {
	dst = append(dst, `{"type":"outbound_result","requestId":`...)
	dst = appendString(dst, requestID)
	dst = append(dst, `,"result":`...)
	dst = append(dst, result...)
	return append(dst, "}\n"...)
}

// DeliveryPayload returns the event of an inbound frame line or the
// forward of a passthrough_forward line as it stands in the line (aliasing
// it), for a connector that takes back a delivery it encoded but never
// sent. ok is false for any other line.
func DeliveryPayload(line []byte) (payload []byte, ok bool) {
	line = bytes.TrimRight(line, "\r\n")
	var inline [inlineMembers]member
	ms, isObject, _ := scanMembers(line, inline[:0])
	if !isObject {
		return nil, false
	}
	typ, key := "", ""
	for _, m := range ms {
		if string(m.key) == "type" {
			typ, _ = frameTypeString(m.val)
		}
	}
	switch typ {
	case TypeInbound:
		key = "event"
	case TypePassthroughForward:
		key = "forward"
	default:
		return nil, false
	}
	for _, m := range ms {
		if string(m.key) == key {
			payload = m.val
		}
	}
	return payload, len(payload) > 0 && payload[0] == '{'
}

// ScanOutboundResult is the fast path for the frame a gateway receives
// most: an outbound_result whose "type" comes first, as connectors write
// it, and whose requestId is a string without escapes. It decodes such a
// line in one validating pass to what DecodeFrame returns, without
// allocating for the frame or the id: requestID aliases line. ok=false
// means "not such a line": decode it with DecodeLine, which handles every
// other shape and words what is wrong.
func ScanOutboundResult(line []byte) (requestID []byte, r Result, ok bool) {
	line = bytes.TrimRight(line, "\r\n")
	p := scanner{in: line}
	p.ws()
	if p.i >= len(p.in) || p.in[p.i] != '{' {
		return nil, Result{}, false
	}
	first := true
	var result []byte
	valid := p.object(func(key []byte, escaped bool) bool {
		if escaped {
			return false // a key with escapes may name a field: the slow path decodes it
		}
		start := p.i
		if !p.value(1) {
			return false
		}
		v := p.in[start:p.i]
		switch string(key) {
		case "type":
			// The type must come first and only once, so that a line
			// that is not a result costs one member.
			ok := first && string(v) == `"`+TypeOutboundResult+`"`
			first = false
			return ok
		case "requestId":
			if len(v) < 2 || v[0] != '"' || bytes.IndexByte(v, '\\') >= 0 {
				return false // a number, null or escapes: DecodeFrame's rules
			}
			requestID = v[1 : len(v)-1]
		case "result":
			if result != nil {
				return false // a repeated result
			}
			result = v
		}
		if first {
			return false // the type is not the first member
		}
		return true
	})
	if !valid || first {
		return nil, Result{}, false
	}
	p.ws()
	if p.i != len(p.in) {
		return nil, Result{}, false
	}
	if len(result) > 0 && result[0] == '{' {
		_ = r.decodeValid(result)
	}
	return requestID, r, true
}
