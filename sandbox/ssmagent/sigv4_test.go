package ssmagent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/gorilla/websocket"

	"github.com/rdsgate/rdsgate/sandbox/world"
	"github.com/rdsgate/rdsgate/tunnel/ssm/ssmwire"
)

const (
	agentKeyID  = "AKIATESTAGENT0000001"
	agentSecret = "secret0000000000000000000000000000000000"
)

// signUpgrade returns the headers AWS's plugin adds to the websocket
// upgrade: SigV4 for service over an empty body, in the sandbox's region.
func signUpgrade(t *testing.T, streamURL, keyID, secret, service string) http.Header {
	t.Helper()
	u := "http" + strings.TrimPrefix(streamURL, "ws")
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret},
		req, emptySHA256, service, world.DefaultRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	return req.Header
}

// dialOpen dials the stream URL with hdr and sends the opening frame.
func dialOpen(t *testing.T, streamURL, token string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(streamURL, hdr)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { c.Close() })
	b, _ := json.Marshal(ssmwire.OpenDataChannelInput{MessageSchemaVersion: "1.0", RequestID: ssmwire.NewUUID().String(), TokenValue: token})
	_ = c.WriteMessage(websocket.TextMessage, b)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	return c, resp, nil
}

// expectHandshake reads the agent's first message: the HandshakeRequest.
func expectHandshake(t *testing.T, c *websocket.Conn) {
	t.Helper()
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("no HandshakeRequest: %v", err)
	}
	if m, err := ssmwire.Decode(b); err != nil || m.PayloadType != ssmwire.PayloadHandshakeRequest {
		t.Fatalf("first message %+v %v", m, err)
	}
}

// TestSignedUpgrade: an upgrade signed with the sandbox's credentials for
// ssmmessages is admitted; so is an unsigned one with a valid token (AWS's
// older plugins do not sign).
func TestSignedUpgrade(t *testing.T) {
	_, _, c, _ := setup(t)
	out := start(t, c, "127.0.0.1")
	ws, _, err := dialOpen(t, *out.StreamUrl, *out.TokenValue, signUpgrade(t, *out.StreamUrl, agentKeyID, agentSecret, "ssmmessages"))
	if err != nil {
		t.Fatalf("signed upgrade refused: %v", err)
	}
	expectHandshake(t, ws)

	out = start(t, c, "127.0.0.1")
	ws, _, err = dialOpen(t, *out.StreamUrl, *out.TokenValue, nil)
	if err != nil {
		t.Fatalf("unsigned upgrade refused: %v", err)
	}
	expectHandshake(t, ws)
}

// TestBadSignatureRefused: a tampered signature, an unknown key, a wrong
// secret or a signature for another service is answered 403 before the
// websocket opens, with AWS's message; the session stays usable.
func TestBadSignatureRefused(t *testing.T) {
	_, _, c, _ := setup(t)
	out := start(t, c, "127.0.0.1")
	u := *out.StreamUrl
	tampered := signUpgrade(t, u, agentKeyID, agentSecret, "ssmmessages")
	auth := tampered.Get("Authorization")
	last := auth[len(auth)-1]
	flip := byte('0')
	if last == '0' {
		flip = '1'
	}
	tampered.Set("Authorization", auth[:len(auth)-1]+string(flip))
	for _, tc := range []struct {
		name, code string
		hdr        http.Header
	}{
		{"tampered signature", "InvalidSignatureException", tampered},
		{"unknown key", "UnrecognizedClientException", signUpgrade(t, u, "AKIAUNKNOWNKEY000001", agentSecret, "ssmmessages")},
		{"wrong secret", "InvalidSignatureException", signUpgrade(t, u, agentKeyID, "not-the-secret000000000000000000000000000", "ssmmessages")},
		{"other service", "InvalidSignatureException", signUpgrade(t, u, agentKeyID, agentSecret, "ssm")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, resp, err := dialOpen(t, u, *out.TokenValue, tc.hdr)
			if err == nil {
				ws.Close()
				t.Fatal("websocket opened")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("dial: %v, response %v; want HTTP 403", err, resp)
			}
			body, _ := io.ReadAll(resp.Body)
			var e struct{ Message string }
			if json.Unmarshal(body, &e) != nil || e.Message == "" || resp.Header.Get("X-Amzn-Errortype") != tc.code {
				t.Fatalf("403 %s %s, want %s with a message", resp.Header.Get("X-Amzn-Errortype"), body, tc.code)
			}
			if strings.Contains(string(body), agentSecret) || strings.Contains(string(body), "Signature=") {
				t.Fatalf("the refusal echoes credentials: %s", body)
			}
			t.Logf("%s: 403 %s: %s", tc.name, tc.code, e.Message)
		})
	}
	// The refusals did not use up the stream token.
	ws, _, err := dialOpen(t, u, *out.TokenValue, signUpgrade(t, u, agentKeyID, agentSecret, "ssmmessages"))
	if err != nil {
		t.Fatal(err)
	}
	expectHandshake(t, ws)
}
