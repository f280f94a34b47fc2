package awsapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// jsonContentType is the content type of awsJson1_1 bodies.
const jsonContentType = "application/x-amz-json-1.1"

// decodeJSON reads a JSON 1.1 request body into v. An empty body is an
// empty object, as the SDKs send "{}" for operations without input. Unknown
// fields are ignored, as AWS ignores them.
func decodeJSON(c *call, v any) *apiError {
	body := bytes.TrimSpace(c.body)
	if len(body) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return clientError("SerializationException", "Start of structure or map found where not expected.").
			withReason("JSON body: %v", err)
	}
	if dec.More() {
		return clientError("SerializationException", "Unexpected content after the JSON body.").withReason("trailing data after the JSON body")
	}
	return nil
}

// writeJSON answers a JSON 1.1 call.
func (s *Server) writeJSON(w http.ResponseWriter, c *call, out any) {
	body, err := json.Marshal(out)
	if err != nil {
		s.fail(w, c, internalError(err))
		return
	}
	s.commonHeaders(w, c, jsonContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// writeJSONError answers an error as AWS's JSON services do: the code in
// x-amzn-ErrorType and in the body's __type (namespaced by the front door
// for authentication errors), the text in "message".
func (s *Server) writeJSONError(w http.ResponseWriter, c *call, e *apiError) {
	typ, header := e.Code, e.Code
	if e.coral {
		typ = "com.amazon.coral.service#" + e.Code
		header = e.Code + ":http://internal.amazon.com/coral/com.amazon.coral.service/"
	}
	m := map[string]string{"__type": typ}
	if e.Message != "" {
		m["message"] = e.Message
	}
	body, _ := json.Marshal(m)
	s.commonHeaders(w, c, jsonContentType)
	w.Header().Set("X-Amzn-Errortype", header)
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// epochTime is a timestamp in JSON 1.1's form: seconds since the epoch as a
// number with a fraction.
type epochTime time.Time

// MarshalJSON writes t as epoch seconds with millisecond precision.
func (t epochTime) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)), nil
}

// lengthBetween is the JSON services' length validation message.
func lengthBetween(svc *service, member, v string, min, max int) *apiError {
	if len(v) >= min && len(v) <= max {
		return nil
	}
	return validation(svc, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length between %d and %d",
		shorten(v), member, min, max)
}
