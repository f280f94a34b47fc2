package ssmwire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// workedExample is the frame of protocol notes §4: input_stream_data, seq
// 1, MessageId 00112233-4455-6677-8899-aabbccddeeff, CreatedDate
// 1700000000000, PayloadType 1, payload "hello".
const workedExample = "00000074696e7075745f73747265616d5f64617461202020202020202020202020202020" +
	"000000010000018bcfe5680000000000000000010000000000000000" +
	"8899aabbccddeeff00112233445566772cf24dba5fb0a30e26e83b2ac5b9e29e" +
	"1b161e5c1fa7425e73043362938b9824000000010000000568656c6c6f"

func exampleID() UUID {
	var u UUID
	b, _ := hex.DecodeString("00112233445566778899aabbccddeeff")
	copy(u[:], b)
	return u
}

func TestEncodeWorkedExample(t *testing.T) {
	m := &Message{Type: TypeInputStreamData, SchemaVersion: 1, CreatedDate: time.UnixMilli(1700000000000), SequenceNumber: 1,
		ID: exampleID(), PayloadType: PayloadOutput, Payload: []byte("hello")}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != workedExample {
		t.Fatalf("encoding differs from the notes' example:\n got %s\nwant %s", got, workedExample)
	}
	if len(b) != 125 {
		t.Fatalf("len %d, want 125", len(b))
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if d.Type != m.Type || d.SequenceNumber != 1 || d.ID != m.ID || d.PayloadType != PayloadOutput || string(d.Payload) != "hello" ||
		!d.CreatedDate.Equal(m.CreatedDate) || d.ID.String() != "00112233-4455-6677-8899-aabbccddeeff" {
		t.Fatalf("round trip: %+v", d)
	}
}

func TestRoundTrips(t *testing.T) {
	for _, m := range []*Message{
		{Type: TypeOutputStreamData, SequenceNumber: 0, Flags: FlagSYN, ID: NewUUID(), PayloadType: PayloadHandshakeRequest, Payload: []byte(`{"AgentVersion":"3.3.1957.0"}`)},
		{Type: TypeInputStreamData, SequenceNumber: 1 << 40, ID: NewUUID(), PayloadType: PayloadFlag, Payload: FlagTerminateSession.Bytes()},
		{Type: TypeChannelClosed, ID: NewUUID()},
		{Type: strings.Repeat("x", 32), ID: NewUUID(), Payload: bytes.Repeat([]byte{0xff}, MaxPayload)},
	} {
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", m.Type, err)
		}
		if d.Type != m.Type || d.SequenceNumber != m.SequenceNumber || d.Flags != m.Flags || d.ID != m.ID ||
			d.PayloadType != m.PayloadType || !bytes.Equal(d.Payload, m.Payload) || d.SchemaVersion != 1 {
			t.Fatalf("round trip of %s differs", m.Type)
		}
	}
}

func TestAckPayload(t *testing.T) {
	m := &Message{Type: TypeOutputStreamData, SequenceNumber: 42, ID: exampleID()}
	a := AckFor(m)
	if a.Flags != FlagSYN|FlagFIN || a.SequenceNumber != 0 || a.PayloadType != PayloadNone {
		t.Fatalf("ack header %+v", a)
	}
	want := `{"AcknowledgedMessageType":"output_stream_data","AcknowledgedMessageId":"00112233-4455-6677-8899-aabbccddeeff","AcknowledgedMessageSequenceNumber":42,"IsSequentialMessage":true}`
	if string(a.Payload) != want {
		t.Fatalf("ack payload %s", a.Payload)
	}
}

func TestPayloadJSON(t *testing.T) {
	var cc ChannelClosed
	if err := json.Unmarshal([]byte(`{"MessageId":"x","CreatedDate":"2024","DestinationId":"i-1","SessionId":"s-1","MessageType":"channel_closed","SchemaVersion":1,"Output":"bye"}`), &cc); err != nil || cc.Output != "bye" || cc.SessionID != "s-1" {
		t.Fatalf("channel_closed: %+v %v", cc, err)
	}
	var hr HandshakeRequest
	raw := `{"AgentVersion":"3.3.987.0","RequestedClientActions":[{"ActionType":"SessionType","ActionParameters":{"SessionType":"Port","Properties":{"portNumber":"5432","type":"LocalPortForwarding"}}}]}`
	if err := json.Unmarshal([]byte(raw), &hr); err != nil || len(hr.RequestedClientActions) != 1 {
		t.Fatal(err)
	}
	var st SessionTypeRequest
	if err := json.Unmarshal(hr.RequestedClientActions[0].ActionParameters, &st); err != nil || st.SessionType != "Port" || st.Properties["type"] != "LocalPortForwarding" {
		t.Fatalf("%+v %v", st, err)
	}
	b, _ := json.Marshal(HandshakeResponse{ClientVersion: "1.2.764.0", ProcessedClientActions: []ProcessedAction{{ActionType: ActionSessionType, ActionStatus: StatusSuccess}}})
	if string(b) != `{"ClientVersion":"1.2.764.0","ProcessedClientActions":[{"ActionType":"SessionType","ActionStatus":1,"ActionResult":null,"Error":""}],"Errors":null}` {
		t.Fatalf("handshake response %s", b)
	}
	b, _ = json.Marshal(OpenDataChannelInput{MessageSchemaVersion: "1.0", RequestID: "r", TokenValue: "t", ClientID: "c", ClientVersion: "v"})
	if string(b) != `{"MessageSchemaVersion":"1.0","RequestId":"r","TokenValue":"t","ClientId":"c","ClientVersion":"v"}` {
		t.Fatalf("open frame %s", b)
	}
	if f, err := ParseFlag([]byte{0, 0, 0, 3}); err != nil || f != FlagConnectToPortError {
		t.Fatal(f, err)
	}
	if _, err := ParseFlag([]byte{1}); err == nil {
		t.Fatal("short flag accepted")
	}
}

func TestDecodeLenient(t *testing.T) {
	// MGS: NUL padding, header length 112 (no PayloadType).
	m := &Message{Type: TypeChannelClosed, ID: NewUUID(), Payload: []byte(`{"Output":"x"}`)}
	b, _ := m.Encode()
	for i := 4 + len(TypeChannelClosed); i < 36; i++ {
		b[i] = 0
	}
	short := append([]byte{}, b[:112]...)
	short[3] = 112
	short = append(short, b[116:]...)
	d, err := Decode(short)
	if err != nil || d.Type != TypeChannelClosed || string(d.Payload) != `{"Output":"x"}` {
		t.Fatalf("%+v %v", d, err)
	}
	// Publication messages skip validation (no date, no digest).
	p := &Message{Type: TypeStartPublication, Payload: []byte("x")}
	pb, _ := p.Encode()
	for i := 40; i < 48; i++ {
		pb[i] = 0
	}
	pb[80] ^= 1
	if _, err := Decode(pb); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeRejects(t *testing.T) {
	good, _ := (&Message{Type: TypeInputStreamData, ID: NewUUID(), Payload: []byte("data")}).Encode()
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for name, b := range map[string][]byte{
		"short":          good[:100],
		"digest":         mut(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }),
		"header length":  mut(func(b []byte) []byte { b[3] = 200; return b }),
		"payload length": mut(func(b []byte) []byte { b[119] = 5; return b }),
		"huge length":    mut(func(b []byte) []byte { b[116] = 0xff; return b }),
		"no type":        mut(func(b []byte) []byte { copy(b[4:36], bytes.Repeat([]byte{' '}, 32)); return b }),
		"no date":        mut(func(b []byte) []byte { copy(b[40:48], make([]byte, 8)); return b }),
	} {
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func TestVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
		ok   bool
	}{
		{"3.0.222.0", "3.0.196.0", 1, true}, {"1.1.70", "1.1.70.0", 0, true}, {"1.2.0.0", "1.2.331.0", -1, true},
		{"", "1.0", 0, false}, {"1.x", "1", 0, false},
	} {
		got, ok := CompareVersions(c.a, c.b)
		if got != c.want || ok != c.ok {
			t.Errorf("CompareVersions(%q,%q) = %d,%v", c.a, c.b, got, ok)
		}
	}
	if !VersionAfter("3.3.1957.0", MuxAgentAfter) || VersionAfter(MuxAgentAfter, MuxAgentAfter) || !VersionAtLeast("1.1.70", MuxMinClientVersion) {
		t.Fatal("thresholds")
	}
}

// FuzzDecode: hostile frames never panic, and the payload always aliases
// the frame (so a length field cannot make Decode allocate).
func FuzzDecode(f *testing.F) {
	b, _ := hex.DecodeString(workedExample)
	f.Add(b)
	f.Add(b[:116])
	ack, _ := AckFor(&Message{Type: TypeOutputStreamData, ID: NewUUID()}).Encode()
	f.Add(ack)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		if len(m.Payload) > len(b) || len(m.Payload) > MaxPayload {
			t.Fatalf("payload of %d bytes from a %d-byte frame", len(m.Payload), len(b))
		}
		if len(m.Payload) > 0 && &m.Payload[0] != &b[len(b)-len(m.Payload)] {
			t.Fatal("payload does not alias the frame")
		}
		if m.Type == TypeAcknowledge {
			var a Ack
			_ = json.Unmarshal(m.Payload, &a)
		}
		re, err := m.Encode()
		if err == nil {
			if _, err := Decode(re); err != nil {
				t.Fatalf("re-encoded message does not decode: %v", err)
			}
		}
	})
}

func TestAllocsBounded(t *testing.T) {
	b, _ := hex.DecodeString(workedExample)
	b[116], b[117] = 0xff, 0xff // hostile length
	allocs := testing.AllocsPerRun(100, func() { _, _ = Decode(b) })
	if allocs > 10 { // a few for the error text, none sized by the field
		t.Fatalf("%v allocations decoding a hostile frame", allocs)
	}
}
