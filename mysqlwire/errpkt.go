package mysqlwire

import (
	"encoding/binary"
	"fmt"
)

// Packet headers of generic responses.
const (
	OKHeader  = 0x00
	ErrHeader = 0xFF
	EOFHeader = 0xFE
)

// Server status flags used by the connection phase and OK packets.
const (
	StatusInTrans            uint16 = 0x0001
	StatusAutocommit         uint16 = 0x0002
	StatusMoreResultsExists  uint16 = 0x0008
	StatusSessionStateChange uint16 = 0x4000
)

// Error codes and SQL states this module sends.
const (
	ErAccessDenied       = 1045 // ER_ACCESS_DENIED_ERROR, SQLSTATE 28000
	ErHandshake          = 1043 // ER_HANDSHAKE_ERROR, SQLSTATE 08S01
	ErUnknownCommand     = 1047 // ER_UNKNOWN_COM_ERROR, SQLSTATE 08S01
	ErNotSupportedAuth   = 1251 // ER_NOT_SUPPORTED_AUTH_MODE, SQLSTATE 08004
	SQLStateAccessDenied = "28000"
	SQLStateHandshake    = "08S01"
)

// ErrPacket is an ERR packet. It is also an error, whose text reads like
// the mysql client prints it.
type ErrPacket struct {
	Code     uint16
	SQLState string // 5 characters; empty when the packet had no marker
	Message  string
}

// Error returns "ERROR 1045 (28000): Access denied ...".
func (e *ErrPacket) Error() string {
	if e.SQLState == "" {
		return fmt.Sprintf("ERROR %d: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("ERROR %d (%s): %s", e.Code, e.SQLState, e.Message)
}

// IsErr reports whether a payload is an ERR packet.
func IsErr(p []byte) bool { return len(p) > 0 && p[0] == ErrHeader }

// DecodeErr decodes an ERR payload. With ClientProtocol41 in caps (always,
// in practice) a '#' marker and a 5-character SQL state may follow the
// code; without the marker the rest is the message.
func DecodeErr(p []byte, caps Capability) (*ErrPacket, error) {
	if !IsErr(p) {
		return nil, fmt.Errorf("%w: not an ERR packet", ErrMalformed)
	}
	d := &decoder{b: p, pos: 1, what: "ERR packet"}
	e := &ErrPacket{Code: d.u16("error code")}
	if d.err != nil {
		return nil, d.err
	}
	if rest := d.rest(); caps.Has(ClientProtocol41) && len(rest) >= 6 && rest[0] == '#' {
		e.SQLState = string(rest[1:6])
		d.pos += 6
	}
	e.Message = string(d.rest())
	return e, nil
}

// Encode returns the ERR payload with the SQL state marker (a state of
// other than 5 bytes is replaced by HY000).
func (e *ErrPacket) Encode() []byte {
	state := e.SQLState
	if len(state) != 5 {
		state = "HY000"
	}
	b := make([]byte, 0, 9+len(e.Message))
	b = append(b, ErrHeader)
	b = binary.LittleEndian.AppendUint16(b, e.Code)
	b = append(append(b, '#'), state...)
	return append(b, e.Message...)
}

// AccessDenied returns the ERR packet MySQL (and RDS) send for a refused
// login: ERROR 1045 (28000): Access denied for user 'u'@'host' (using
// password: YES).
func AccessDenied(user, host string, usingPassword bool) *ErrPacket {
	yes := "NO"
	if usingPassword {
		yes = "YES"
	}
	return &ErrPacket{Code: ErAccessDenied, SQLState: SQLStateAccessDenied,
		Message: fmt.Sprintf("Access denied for user '%s'@'%s' (using password: %s)", user, host, yes)}
}

// OKPacket is an OK packet (header 0x00, or 0xFE when it ends a result set
// under ClientDeprecateEOF).
type OKPacket struct {
	Header       byte // OKHeader or EOFHeader; 0 encodes as OKHeader
	AffectedRows uint64
	LastInsertID uint64
	Status       uint16
	Warnings     uint16
	// Info is the human-readable status text.
	Info string
	// SessionState is the raw session-state-change block (with
	// ClientSessionTrack and StatusSessionStateChange).
	SessionState []byte
}

// IsOK reports whether a connection-phase payload is an OK packet.
func IsOK(p []byte) bool { return len(p) >= 7 && p[0] == OKHeader }

// DecodeOK decodes an OK payload as the capabilities of the session say.
func DecodeOK(p []byte, caps Capability) (*OKPacket, error) {
	if len(p) == 0 || (p[0] != OKHeader && p[0] != EOFHeader) {
		return nil, fmt.Errorf("%w: not an OK packet", ErrMalformed)
	}
	d := &decoder{b: p, pos: 1, what: "OK packet"}
	ok := &OKPacket{Header: p[0]}
	ok.AffectedRows = d.lenEncInt("affected rows")
	ok.LastInsertID = d.lenEncInt("last insert id")
	if caps.Has(ClientProtocol41) {
		ok.Status = d.u16("status flags")
		ok.Warnings = d.u16("warnings")
	} else if caps.Has(ClientTransactions) {
		ok.Status = d.u16("status flags")
	}
	if d.err != nil {
		return nil, d.err
	}
	if caps.Has(ClientSessionTrack) {
		if !d.empty() {
			ok.Info = string(d.lenEncBytes("info"))
			if ok.Status&StatusSessionStateChange != 0 {
				ok.SessionState = clone(d.lenEncBytes("session state"))
			}
		}
	} else {
		ok.Info = string(d.rest())
	}
	if d.err != nil {
		return nil, d.err
	}
	return ok, nil
}

// Encode returns the OK payload for a session with capabilities caps.
func (ok *OKPacket) Encode(caps Capability) []byte {
	h := ok.Header
	if h == 0 {
		h = OKHeader
	}
	b := []byte{h}
	b = AppendLenEncInt(b, ok.AffectedRows)
	b = AppendLenEncInt(b, ok.LastInsertID)
	if caps.Has(ClientProtocol41) {
		b = binary.LittleEndian.AppendUint16(b, ok.Status)
		b = binary.LittleEndian.AppendUint16(b, ok.Warnings)
	} else if caps.Has(ClientTransactions) {
		b = binary.LittleEndian.AppendUint16(b, ok.Status)
	}
	if caps.Has(ClientSessionTrack) {
		if ok.Info != "" || ok.Status&StatusSessionStateChange != 0 {
			b = AppendLenEncString(b, []byte(ok.Info))
			if ok.Status&StatusSessionStateChange != 0 {
				b = AppendLenEncString(b, ok.SessionState)
			}
		}
	} else {
		b = append(b, ok.Info...)
	}
	return b
}

// EOFPacket is the EOF packet of the pre-DEPRECATE_EOF protocol.
type EOFPacket struct {
	Warnings uint16
	Status   uint16
}

// IsEOF reports whether a payload is an EOF packet (0xFE and shorter than
// 9 bytes, which tells it from a row starting with a length-encoded
// integer).
func IsEOF(p []byte) bool { return len(p) > 0 && len(p) < 9 && p[0] == EOFHeader }

// DecodeEOF decodes an EOF payload (ClientProtocol41 form: warnings and
// status; a bare 0xFE gives zeros).
func DecodeEOF(p []byte) (*EOFPacket, error) {
	if !IsEOF(p) {
		return nil, fmt.Errorf("%w: not an EOF packet", ErrMalformed)
	}
	e := &EOFPacket{}
	if len(p) >= 5 {
		e.Warnings = binary.LittleEndian.Uint16(p[1:])
		e.Status = binary.LittleEndian.Uint16(p[3:])
	}
	return e, nil
}

// Encode returns the EOF payload (ClientProtocol41 form).
func (e *EOFPacket) Encode() []byte {
	b := []byte{EOFHeader}
	b = binary.LittleEndian.AppendUint16(b, e.Warnings)
	return binary.LittleEndian.AppendUint16(b, e.Status)
}
