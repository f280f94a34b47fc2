package awsapi

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// CloudWatch speaks Smithy RPC v2 CBOR in the AWS SDK for Go (since
// cloudwatch v1.5x): POST /service/<Service>/operation/<Operation> with
// the header Smithy-Protocol: rpc-v2-cbor and CBOR bodies. Errors are a
// CBOR map with __type and message; CloudWatch is query-compatible, so the
// query protocol's code also goes in X-Amzn-Query-Error. The AWS CLI still
// sends the query protocol, which the sandbox does not serve for
// CloudWatch.

// protoCBOR is Smithy RPC v2 CBOR. It is numbered apart from the
// protocols of errors.go, whose answers (AccessDenied, InvalidAction, the
// 403 authentication errors) are the query ones CloudWatch keeps in CBOR.
const protoCBOR protocol = 100

// cloudWatchService is CloudWatch's service name in the RPC v2 path.
const cloudWatchService = "GraniteServiceVersion20100801"

// cborContentType is the content type of RPC v2 CBOR bodies.
const cborContentType = "application/cbor"

// routeCBOR routes an RPC v2 CBOR request by its path; it reports whether
// the request is one.
func (s *Server) routeCBOR(c *call) bool {
	if !strings.EqualFold(c.r.Header.Get("Smithy-Protocol"), "rpc-v2-cbor") {
		return false
	}
	rest, ok := strings.CutPrefix(c.r.URL.Path, "/service/")
	svcName, opName, ok2 := strings.Cut(rest, "/operation/")
	c.action = opName
	if svc := s.byTarget[svcName]; ok && ok2 && svc != nil && svc.proto == protoCBOR {
		c.svc = svc
	} else {
		c.svc = &service{name: "unknown", proto: protoCBOR}
		c.action = c.r.URL.Path // no operation matches
	}
	if len(c.body) > 0 {
		v, err := cbor.Decode(c.body)
		m, isMap := v.(cbor.Map)
		if err != nil || !isMap {
			c.parseErr = clientError("SerializationException", "The request body is not a CBOR map").withReason("CBOR body: %v", err)
		} else {
			c.cbor = m
		}
	}
	return true
}

// cborString is the string member name of a request, or "".
func (c *call) cborString(name string) string {
	if s, ok := c.cbor[name].(cbor.String); ok {
		return string(s)
	}
	return ""
}

// writeCBOR answers an RPC v2 CBOR call.
func (s *Server) writeCBOR(w http.ResponseWriter, c *call, out any) {
	v, err := toCBOR(out)
	if err != nil {
		s.fail(w, c, internalError(err))
		return
	}
	s.commonHeaders(w, c, cborContentType)
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(cbor.Encode(v))
}

// writeCBORError answers an error: __type and message in the body, and the
// query code for query-compatible clients.
func (s *Server) writeCBORError(w http.ResponseWriter, c *call, e *apiError) {
	m := cbor.Map{"__type": cbor.String(e.Code)}
	if e.Message != "" {
		m["message"] = cbor.String(e.Message)
	}
	fault := "Sender"
	if e.Status >= 500 {
		fault = "Receiver"
	}
	s.commonHeaders(w, c, cborContentType)
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("X-Amzn-Query-Error", e.Code+";"+fault)
	w.WriteHeader(e.Status)
	_, _ = w.Write(cbor.Encode(m))
}

// toCBOR converts the handlers' plain values (maps, slices, strings,
// numbers, booleans, times) to CBOR; timestamps are tag 1 epoch seconds.
func toCBOR(v any) (cbor.Value, error) {
	switch x := v.(type) {
	case nil:
		return &cbor.Nil{}, nil
	case string:
		return cbor.String(x), nil
	case bool:
		return cbor.Bool(x), nil
	case int:
		if x < 0 {
			return cbor.NegInt(uint64(-x)), nil
		}
		return cbor.Uint(uint64(x)), nil
	case float64:
		return cbor.Float64(x), nil
	case time.Time:
		return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(x.UnixMilli()) / 1000)}, nil
	case []string:
		l := make(cbor.List, len(x))
		for i, s := range x {
			l[i] = cbor.String(s)
		}
		return l, nil
	case []map[string]any:
		l := make(cbor.List, 0, len(x))
		for _, m := range x {
			cv, err := toCBOR(m)
			if err != nil {
				return nil, err
			}
			l = append(l, cv)
		}
		return l, nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		m := cbor.Map{}
		for _, k := range keys {
			cv, err := toCBOR(x[k])
			if err != nil {
				return nil, fmt.Errorf("awsapi: cbor %s: %w", k, err)
			}
			m[k] = cv
		}
		return m, nil
	}
	return nil, fmt.Errorf("awsapi: no CBOR form for %T", v)
}

// describeAlarms answers CloudWatch DescribeAlarms: the sandbox has no
// alarm (no-outside-vpc-connection-alarm fails).
func (s *Server) describeAlarms(c *call) (any, *apiError) {
	if e := s.authorize(c, "cloudwatch:DescribeAlarms", s.arn("cloudwatch", "alarm:*"), nil); e != nil {
		return nil, e
	}
	if tok := c.cborString("NextToken"); tok != "" {
		return nil, clientError("InvalidNextToken", "The service couldn't process your request because the NextToken is not valid.")
	}
	return map[string]any{"MetricAlarms": []map[string]any{}, "CompositeAlarms": []map[string]any{}}, nil
}
