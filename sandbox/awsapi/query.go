package awsapi

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// queryParams merges the URL query and, for form bodies, the body's
// parameters.
func queryParams(r *http.Request, body []byte) (url.Values, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return v, fmt.Errorf("query string: %w", err)
	}
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	if len(body) > 0 && (ct == "" || strings.HasPrefix(ct, "application/x-www-form-urlencoded")) {
		bv, err := url.ParseQuery(string(body))
		for k, vals := range bv {
			v[k] = append(v[k], vals...)
		}
		if err != nil {
			return v, fmt.Errorf("form body: %w", err)
		}
	}
	return v, nil
}

// indexed is one prefix.N parameter group.
type indexed struct {
	n    int
	rest string // what follows prefix.N. ("" for prefix.N itself)
	vals []string
}

// groups collects the parameters prefix.N and prefix.N.rest, in index order.
// Indexes that are not small positive numbers are ignored, as AWS ignores
// parameters it does not know.
func groups(params url.Values, prefix string) []indexed {
	var out []indexed
	for k, vals := range params {
		tail, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		num, rest, _ := strings.Cut(tail, ".")
		if num == "" || len(num) > 6 || !allDigits(num) {
			continue
		}
		n, _ := strconv.Atoi(num)
		if n < 1 {
			continue
		}
		out = append(out, indexed{n: n, rest: rest, vals: vals})
	}
	slices.SortStableFunc(out, func(a, b indexed) int {
		if a.n != b.n {
			return a.n - b.n
		}
		return strings.Compare(a.rest, b.rest)
	})
	return out
}

// members returns the values of the list prefix.1, prefix.2, ... in order.
func members(params url.Values, prefix string) []string {
	var out []string
	for _, g := range groups(params, prefix) {
		if g.rest == "" && len(g.vals) > 0 {
			out = append(out, g.vals[0])
		}
	}
	return out
}

// structs returns the structures of the list prefix.N.Field..., one
// url.Values of Field... per N, in order.
func structs(params url.Values, prefix string) []url.Values {
	var out []url.Values
	last := -1
	for _, g := range groups(params, prefix) {
		if g.rest == "" {
			continue
		}
		if g.n != last {
			out = append(out, url.Values{})
			last = g.n
		}
		out[len(out)-1][g.rest] = g.vals
	}
	return out
}

// xmlTime formats a time as the query protocols do.
func xmlTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// xmlns is the namespace attribute of a response's root element.
func xmlns(ns string) []xml.Attr {
	return []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: ns}}
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// writeQuery answers an awsQuery call: <ActionResponse xmlns=...>
// <ActionResult>out</ActionResult><ResponseMetadata>.
func (s *Server) writeQuery(w http.ResponseWriter, c *call, out any) {
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	start := xml.StartElement{Name: xml.Name{Local: c.action + "Response"}, Attr: xmlns(c.svc.xmlns)}
	err := enc.EncodeToken(start)
	if err == nil {
		err = enc.EncodeElement(out, xml.StartElement{Name: xml.Name{Local: c.action + "Result"}})
	}
	if err == nil {
		err = enc.EncodeElement(responseMetadata{RequestID: c.reqID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	}
	if err == nil {
		err = enc.EncodeToken(start.End())
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		s.fail(w, c, internalError(err))
		return
	}
	s.commonHeaders(w, c, "text/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

type queryErrorResponse struct {
	XMLName   xml.Name   `xml:"ErrorResponse"`
	Xmlns     string     `xml:"xmlns,attr,omitempty"`
	Error     queryError `xml:"Error"`
	RequestID string     `xml:"RequestId"`
}

type queryError struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message,omitempty"`
}

func (s *Server) writeQueryError(w http.ResponseWriter, c *call, e *apiError) {
	typ := "Sender"
	if e.Receiver {
		typ = "Receiver"
	}
	body, err := xml.Marshal(queryErrorResponse{
		Xmlns:     c.svc.xmlns,
		Error:     queryError{Type: typ, Code: e.Code, Message: e.Message},
		RequestID: c.reqID,
	})
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	s.commonHeaders(w, c, "text/xml")
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// internalError answers a bug in the sandbox itself.
func internalError(err error) *apiError {
	return &apiError{Status: http.StatusInternalServerError, Code: "InternalFailure", Receiver: true,
		Message: "The request processing has failed because of an unknown error, exception or failure.",
		reason:  fmt.Sprintf("internal error: %v", err)}
}
