package ssmwire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Ack is the payload of an acknowledge message. Only the sequence number is
// used for matching.
type Ack struct {
	AcknowledgedMessageType           string `json:"AcknowledgedMessageType"`
	AcknowledgedMessageID             string `json:"AcknowledgedMessageId"`
	AcknowledgedMessageSequenceNumber int64  `json:"AcknowledgedMessageSequenceNumber"`
	IsSequentialMessage               bool   `json:"IsSequentialMessage"`
}

// AckFor builds the acknowledge message for a received stream message:
// sequence 0, flags SYN|FIN, no payload type, as AWS's parties send it.
func AckFor(m *Message) *Message {
	p, _ := json.Marshal(Ack{
		AcknowledgedMessageType:           m.Type,
		AcknowledgedMessageID:             m.ID.String(),
		AcknowledgedMessageSequenceNumber: m.SequenceNumber,
		IsSequentialMessage:               true,
	})
	return &Message{Type: TypeAcknowledge, Flags: FlagSYN | FlagFIN, ID: newMessageID(), Payload: p}
}

// JSON pieces of an acknowledgement, in the order AWS's parties write them.
const (
	ackKeyType = `{"AcknowledgedMessageType":"`
	ackKeyID   = `","AcknowledgedMessageId":"`
	ackKeySeq  = `"AcknowledgedMessageSequenceNumber":`
	ackTail    = `,"IsSequentialMessage":true}`
)

// appendAck appends the frame of AckFor(m) to dst without going through
// encoding/json: an acknowledgement is made for every message received.
func appendAck(dst []byte, m *Message) []byte {
	if m.Type != TypeInputStreamData && m.Type != TypeOutputStreamData {
		f, _ := AckFor(m).Encode() // a type that might need JSON escaping
		return append(dst, f...)
	}
	var buf [192]byte
	p := append(buf[:0], ackKeyType...)
	p = append(p, m.Type...)
	p = append(p, ackKeyID...)
	p = m.ID.appendString(p)
	p = append(p, `",`...)
	p = append(p, ackKeySeq...)
	p = strconv.AppendInt(p, m.SequenceNumber, 10)
	p = append(p, ackTail...)
	a := Message{Type: TypeAcknowledge, Flags: FlagSYN | FlagFIN, ID: newMessageID(), Payload: p}
	dst, _ = a.AppendEncode(dst)
	return dst
}

// ackedSequence returns the AcknowledgedMessageSequenceNumber of an
// acknowledge payload: directly when the payload is laid out as AWS's
// parties (and this package) write it, through encoding/json otherwise.
func ackedSequence(p []byte) (int64, error) {
	if i := bytes.Index(p, []byte(ackKeySeq)); i >= 0 && bytes.Count(p, []byte(ackKeySeq)) == 1 {
		rest := p[i+len(ackKeySeq):]
		var n int64
		j := 0
		for j < len(rest) && j < 18 && rest[j] >= '0' && rest[j] <= '9' {
			n = n*10 + int64(rest[j]-'0')
			j++
		}
		if j > 0 && j < len(rest) && (rest[j] == ',' || rest[j] == '}') {
			return n, nil
		}
	}
	var a Ack
	if err := json.Unmarshal(p, &a); err != nil {
		return 0, err
	}
	return a.AcknowledgedMessageSequenceNumber, nil
}

// ChannelClosed is the payload of channel_closed, which the service sends
// when a session ends.
type ChannelClosed struct {
	MessageID     string `json:"MessageId"`
	CreatedDate   string `json:"CreatedDate"`
	DestinationID string `json:"DestinationId"`
	SessionID     string `json:"SessionId"`
	MessageType   string `json:"MessageType"`
	SchemaVersion int    `json:"SchemaVersion"`
	Output        string `json:"Output"`
}

// OpenDataChannelInput is the first (text) websocket frame a client sends:
// it authenticates the websocket with the stream token.
type OpenDataChannelInput struct {
	MessageSchemaVersion string `json:"MessageSchemaVersion"`
	RequestID            string `json:"RequestId"`
	TokenValue           string `json:"TokenValue"`
	ClientID             string `json:"ClientId,omitempty"`
	ClientVersion        string `json:"ClientVersion,omitempty"`
}

// Handshake action types and statuses.
const (
	ActionSessionType   = "SessionType"
	ActionKMSEncryption = "KMSEncryption"

	StatusSuccess     = 1
	StatusFailed      = 2
	StatusUnsupported = 3
)

// HandshakeRequest is the agent's first stream message (PayloadType 5).
type HandshakeRequest struct {
	AgentVersion           string            `json:"AgentVersion"`
	RequestedClientActions []RequestedAction `json:"RequestedClientActions"`
}

// RequestedAction is one action the agent asks of the client.
type RequestedAction struct {
	ActionType       string          `json:"ActionType"`
	ActionParameters json.RawMessage `json:"ActionParameters"`
}

// SessionTypeRequest is the parameters of the SessionType action.
type SessionTypeRequest struct {
	SessionType string         `json:"SessionType"`
	Properties  map[string]any `json:"Properties"`
}

// HandshakeResponse is the client's answer (PayloadType 6).
type HandshakeResponse struct {
	ClientVersion          string            `json:"ClientVersion"`
	ProcessedClientActions []ProcessedAction `json:"ProcessedClientActions"`
	Errors                 []string          `json:"Errors"`
}

// ProcessedAction is the client's result for one requested action.
type ProcessedAction struct {
	ActionType   string `json:"ActionType"`
	ActionStatus int    `json:"ActionStatus"`
	ActionResult any    `json:"ActionResult"`
	Error        string `json:"Error"`
}

// HandshakeComplete ends the handshake (PayloadType 7).
type HandshakeComplete struct {
	HandshakeTimeToComplete int64  `json:"HandshakeTimeToComplete"` // nanoseconds
	CustomerMessage         string `json:"CustomerMessage"`
}

// Flag values (PayloadType 10, a big-endian uint32 payload).
type Flag uint32

// Flags of port sessions.
const (
	FlagDisconnectToPort   Flag = 1
	FlagTerminateSession   Flag = 2
	FlagConnectToPortError Flag = 3
)

// Bytes is the flag's payload.
func (f Flag) Bytes() []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(f))
}

// ParseFlag reads a flag payload.
func ParseFlag(p []byte) (Flag, error) {
	if len(p) != 4 {
		return 0, fmt.Errorf("%w: flag payload of %d bytes", ErrMalformed, len(p))
	}
	return Flag(binary.BigEndian.Uint32(p)), nil
}

// Version thresholds that decide the port session's mode (protocol notes
// §9.1). Each side decides from the version the other side reports.
const (
	// MuxMinClientVersion: the agent multiplexes when the client reports
	// at least this version.
	MuxMinClientVersion = "1.1.70"
	// MuxAgentAfter: the client multiplexes when the agent reports a
	// version greater than this one.
	MuxAgentAfter = "3.0.196.0"
	// KeepAliveOffClientAfter: the agent disables smux keepalive when the
	// client reports a version greater than this one.
	KeepAliveOffClientAfter = "1.2.331.0"
	// KeepAliveOffAgentAfter: the plugin disables smux keepalive when the
	// agent reports a version greater than this one.
	KeepAliveOffAgentAfter = "3.1.1511.0"
)

// CompareVersions compares dot-separated numeric versions: -1, 0 or +1.
// Missing components count as 0. ok is false when either does not parse,
// which callers treat as "older".
func CompareVersions(a, b string) (cmp int, ok bool) {
	pa, oka := parseVersion(a)
	pb, okb := parseVersion(b)
	if !oka || !okb {
		return 0, false
	}
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y uint64
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		switch {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
	}
	return 0, true
}

// VersionAtLeast reports v >= min; an unparsable v is not.
func VersionAtLeast(v, min string) bool {
	c, ok := CompareVersions(v, min)
	return ok && c >= 0
}

// VersionAfter reports v > than; an unparsable v is not.
func VersionAfter(v, than string) bool {
	c, ok := CompareVersions(v, than)
	return ok && c > 0
}

func parseVersion(v string) ([]uint64, bool) {
	if v == "" || len(v) > 64 {
		return nil, false
	}
	parts := strings.Split(v, ".")
	out := make([]uint64, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}
