// Package ssmwire is the wire protocol of AWS Systems Manager Session
// Manager's data channel, shared by rdsgate's native client (tunnel/ssm)
// and the sandbox's agent side (sandbox/ssmagent): the binary
// ClientMessage codec, the JSON payloads (acknowledgements, handshake,
// channel_closed, flags, the opening token frame) and the reliability layer
// (sequence numbers, acknowledgements, retransmission, in-order delivery)
// that both ends of a session run over a websocket.
//
// The layout follows the behaviour of AWS's session-manager-plugin and
// amazon-ssm-agent.
package ssmwire

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"time"
)

// Message types (the 32-byte, space-padded MessageType field).
const (
	TypeInputStreamData   = "input_stream_data"
	TypeOutputStreamData  = "output_stream_data"
	TypeAcknowledge       = "acknowledge"
	TypeChannelClosed     = "channel_closed"
	TypeStartPublication  = "start_publication"
	TypePausePublication  = "pause_publication"
	TypeAgentSessionState = "agent_session_state"
)

// PayloadType says what a stream message's payload is.
type PayloadType uint32

// Payload types.
const (
	PayloadNone                 PayloadType = 0
	PayloadOutput               PayloadType = 1
	PayloadError                PayloadType = 2
	PayloadSize                 PayloadType = 3
	PayloadParameter            PayloadType = 4
	PayloadHandshakeRequest     PayloadType = 5
	PayloadHandshakeResponse    PayloadType = 6
	PayloadHandshakeComplete    PayloadType = 7
	PayloadEncChallengeRequest  PayloadType = 8
	PayloadEncChallengeResponse PayloadType = 9
	PayloadFlag                 PayloadType = 10
	PayloadStdErr               PayloadType = 11
	PayloadExitCode             PayloadType = 12
)

// Header flags.
const (
	FlagSYN uint64 = 1
	FlagFIN uint64 = 2
)

// Layout constants.
const (
	// HeaderLength is what writers put in the header length field: the
	// offset of the PayloadLength field (the header excludes it).
	HeaderLength = 116
	// headerLengthNoType is the header length of MGS messages without a
	// PayloadType field.
	headerLengthNoType = 112
	// FrameOverhead is the size of a frame with an empty payload.
	FrameOverhead = HeaderLength + 4
	typeFieldLen  = 32
	// MaxPayload bounds a payload this package decodes or encodes.
	MaxPayload = 1 << 20
	// MaxFrame bounds a frame: set it as the websocket read limit.
	MaxFrame = FrameOverhead + MaxPayload
)

// Errors of Decode. They wrap ErrMalformed.
var (
	ErrMalformed = errors.New("ssmwire: malformed message")
	ErrDigest    = fmt.Errorf("%w: payload digest mismatch", ErrMalformed)
)

// UUID is a message id in its canonical byte order.
type UUID [16]byte

// NewUUID returns a random (version 4) UUID from crypto/rand.
func NewUUID() UUID {
	var u UUID
	_, _ = rand.Read(u[:])
	return u.v4()
}

// newMessageID returns a random (version 4) UUID for a message id from the
// runtime's ChaCha8 generator: message ids need to be distinct, not secret
// (nobody matches acknowledgements by id), and one is made per message.
func newMessageID() UUID {
	var u UUID
	binary.LittleEndian.PutUint64(u[0:], mrand.Uint64())
	binary.LittleEndian.PutUint64(u[8:], mrand.Uint64())
	return u.v4()
}

func (u UUID) v4() UUID {
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// String is the lower-case hyphenated form.
func (u UUID) String() string {
	var b [36]byte
	return string(u.appendString(b[:0]))
}

// appendString appends the lower-case hyphenated form to dst.
func (u UUID) appendString(dst []byte) []byte {
	n := len(dst)
	dst = slices.Grow(dst, 36)[:n+36]
	b := dst[n:]
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return dst
}

// Message is one data-channel message (AWS's ClientMessage/AgentMessage).
type Message struct {
	Type           string
	SchemaVersion  uint32
	CreatedDate    time.Time // millisecond precision on the wire
	SequenceNumber int64
	Flags          uint64
	ID             UUID
	PayloadType    PayloadType
	Payload        []byte
}

// Encode returns the wire form of m: header length 116, MessageType padded
// with spaces, CreatedDate in Unix milliseconds (now if zero), the halves of
// the MessageId swapped and the SHA-256 digest of the payload.
func (m *Message) Encode() ([]byte, error) {
	return m.AppendEncode(nil)
}

// spaces pads the MessageType field.
var spaces = bytes.Repeat([]byte{' '}, typeFieldLen)

// AppendEncode appends the wire form of m (see Encode) to dst.
func (m *Message) AppendEncode(dst []byte) ([]byte, error) {
	if len(m.Type) == 0 || len(m.Type) > typeFieldLen {
		return dst, fmt.Errorf("ssmwire: message type %q must be 1 to %d bytes", m.Type, typeFieldLen)
	}
	if len(m.Payload) > MaxPayload {
		return dst, fmt.Errorf("ssmwire: payload of %d bytes exceeds %d", len(m.Payload), MaxPayload)
	}
	n := len(dst)
	dst = slices.Grow(dst, FrameOverhead+len(m.Payload))[:n+FrameOverhead+len(m.Payload)]
	b := dst[n:]
	binary.BigEndian.PutUint32(b[0:], HeaderLength)
	copy(b[4:36], spaces)
	copy(b[4:], m.Type)
	sv := m.SchemaVersion
	if sv == 0 {
		sv = 1
	}
	binary.BigEndian.PutUint32(b[36:], sv)
	created := m.CreatedDate
	if created.IsZero() {
		created = time.Now()
	}
	binary.BigEndian.PutUint64(b[40:], uint64(created.UnixMilli()))
	binary.BigEndian.PutUint64(b[48:], uint64(m.SequenceNumber))
	binary.BigEndian.PutUint64(b[56:], m.Flags)
	copy(b[64:72], m.ID[8:16])
	copy(b[72:80], m.ID[0:8])
	sum := sha256.Sum256(m.Payload)
	copy(b[80:112], sum[:])
	binary.BigEndian.PutUint32(b[112:], uint32(m.PayloadType))
	binary.BigEndian.PutUint32(b[116:], uint32(len(m.Payload)))
	copy(b[120:], m.Payload)
	return dst, nil
}

// Decode parses a frame. It is lenient where AWS's parties are (NUL or
// space padding of the type, a 112-byte header without PayloadType from
// MGS) and strict where safety needs it: the payload must fit the frame
// exactly, be at most MaxPayload bytes and match its SHA-256 digest (the
// digest is not checked for start/pause_publication, which MGS sends
// without one). The returned payload aliases b.
func Decode(b []byte) (*Message, error) {
	m := new(Message)
	if err := m.decode(b); err != nil {
		return nil, err
	}
	return m, nil
}

// decode is Decode into m, which it overwrites.
func (m *Message) decode(b []byte) error {
	*m = Message{}
	if len(b) < headerLengthNoType+4 {
		return fmt.Errorf("%w: %d bytes is shorter than a header", ErrMalformed, len(b))
	}
	hl := binary.BigEndian.Uint32(b[0:])
	if hl != HeaderLength && hl != headerLengthNoType {
		return fmt.Errorf("%w: header length %d (want %d)", ErrMalformed, hl, HeaderLength)
	}
	if uint64(len(b)) < uint64(hl)+4 {
		return fmt.Errorf("%w: frame of %d bytes shorter than its header", ErrMalformed, len(b))
	}
	m.Type = messageType(bytes.Trim(b[4:36], " \x00\t\r\n"))
	if m.Type == "" {
		return fmt.Errorf("%w: empty message type", ErrMalformed)
	}
	m.SchemaVersion = binary.BigEndian.Uint32(b[36:])
	ms := binary.BigEndian.Uint64(b[40:])
	m.SequenceNumber = int64(binary.BigEndian.Uint64(b[48:]))
	m.Flags = binary.BigEndian.Uint64(b[56:])
	copy(m.ID[8:16], b[64:72])
	copy(m.ID[0:8], b[72:80])
	if hl == HeaderLength {
		m.PayloadType = PayloadType(binary.BigEndian.Uint32(b[112:]))
	}
	pl := binary.BigEndian.Uint32(b[hl:])
	rest := b[hl+4:]
	if pl > MaxPayload {
		return fmt.Errorf("%w: payload length %d exceeds %d", ErrMalformed, pl, MaxPayload)
	}
	if uint64(pl) != uint64(len(rest)) {
		return fmt.Errorf("%w: payload length %d but %d bytes follow the header", ErrMalformed, pl, len(rest))
	}
	m.Payload = rest
	publication := m.Type == TypeStartPublication || m.Type == TypePausePublication
	if publication {
		return nil
	}
	if ms == 0 || ms > 1<<53 {
		return fmt.Errorf("%w: created date %d", ErrMalformed, ms)
	}
	m.CreatedDate = time.UnixMilli(int64(ms)).UTC()
	if pl != 0 {
		sum := sha256.Sum256(rest)
		if !bytes.Equal(sum[:], b[80:112]) {
			return ErrDigest
		}
	}
	return nil
}

// messageType returns the known type constants without allocating.
func messageType(b []byte) string {
	switch string(b) {
	case TypeInputStreamData:
		return TypeInputStreamData
	case TypeOutputStreamData:
		return TypeOutputStreamData
	case TypeAcknowledge:
		return TypeAcknowledge
	case TypeChannelClosed:
		return TypeChannelClosed
	case TypeStartPublication:
		return TypeStartPublication
	case TypePausePublication:
		return TypePausePublication
	case TypeAgentSessionState:
		return TypeAgentSessionState
	}
	return string(b)
}
