package ssm

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/gorilla/websocket"

	"github.com/rdsgate/rdsgate/tunnel/ssm/ssmwire"
)

// emptySHA256 is the payload hash of the signed websocket upgrade.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// presignKeys are query keys that mark a StreamUrl as presigned: such URLs
// are not signed again (as AWS's plugin does).
var presignKeys = []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"}

// openWebsocket dials streamURL, SigV4-signed for ssmmessages when
// credentials are available, and sends the opening token frame.
func (d *Dialer) openWebsocket(ctx context.Context, streamURL, token string) (*websocket.Conn, error) {
	u, err := url.Parse(streamURL)
	if err != nil || (u.Scheme != "wss" && u.Scheme != "ws") {
		return nil, fmt.Errorf("ssm: StartSession returned an unusable StreamUrl %q", streamURL)
	}
	hdr := http.Header{}
	if d.creds != nil && !presigned(u) {
		if h, err := d.sign(ctx, streamURL); err != nil {
			d.log.Warn("ssm: connecting the data channel unsigned: cannot sign the websocket request", "err", err)
		} else {
			hdr = h
		}
	}
	wd := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 64 << 10, WriteBufferSize: 64 << 10, Proxy: http.ProxyFromEnvironment,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var nd net.Dialer
			c, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return ssmwire.FastConn(c), nil
		}}
	c, resp, err := wd.DialContext(ctx, streamURL, hdr)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("ssm: open data channel %s://%s%s: HTTP %s: %w", u.Scheme, u.Host, u.Path, resp.Status, err)
		}
		return nil, fmt.Errorf("ssm: open data channel %s://%s%s: %w", u.Scheme, u.Host, u.Path, err)
	}
	open, _ := json.Marshal(ssmwire.OpenDataChannelInput{MessageSchemaVersion: "1.0", RequestID: ssmwire.NewUUID().String(),
		TokenValue: token, ClientID: d.clientID, ClientVersion: d.cfg.ClientVersion})
	_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if err := c.WriteMessage(websocket.TextMessage, open); err != nil {
		c.Close()
		return nil, fmt.Errorf("ssm: send the data channel token: %w", err)
	}
	_ = c.SetWriteDeadline(time.Time{})
	return c, nil
}

func presigned(u *url.URL) bool {
	q := u.Query()
	for _, k := range presignKeys {
		for qk := range q {
			if strings.EqualFold(qk, k) {
				return true
			}
		}
	}
	return false
}

// sign returns the SigV4 headers (service ssmmessages) for the upgrade GET.
func (d *Dialer) sign(ctx context.Context, streamURL string) (http.Header, error) {
	creds, err := d.creds.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	httpURL := "https" + strings.TrimPrefix(strings.TrimPrefix(streamURL, "wss"), "ws")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, httpURL, nil)
	if err != nil {
		return nil, err
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, emptySHA256, "ssmmessages", d.cfg.Region, time.Now().UTC()); err != nil {
		return nil, err
	}
	h := http.Header{}
	for _, k := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		if v := req.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	return h, nil
}

func newClientID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return ssmwire.UUID(b).String()
}
