package mysqlfront

import (
	"bufio"
	"io"
	"net"

	"github.com/rdsgate/rdsgate/mysqlwire"
)

const (
	// relayBuf is the client→backend read buffer; COM_QUERY packets up to
	// its size (minus the header) are inspected for the user rewrite.
	relayBuf   = 32 << 10
	comQuery   = 0x03
	maxInspect = relayBuf - mysqlwire.HeaderSize
)

// relay splices the two legs until either side ends, then closes both.
func (ss *session) relay(client, backend net.Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(client, backend)
		ss.close()
	}()
	_ = ss.copyClientToBackend(backend, client)
	ss.close()
	<-done
}

// copyClientToBackend copies the client's packets to the backend. It looks
// at packet headers only, and at the text of COM_QUERY packets that start
// a command (sequence id 0), to rewrite CREATE/ALTER USER ... IDENTIFIED
// WITH AWSAuthenticationPlugin; everything else passes in the same batches
// a plain copy would write, without allocating.
func (ss *session) copyClientToBackend(dst io.Writer, src io.Reader) error {
	br := bufio.NewReaderSize(src, relayBuf)
	rem := 0 // bytes of the current packet still to pass on
	for {
		if rem > 0 {
			if br.Buffered() == 0 {
				if _, err := br.Peek(1); err != nil {
					return err
				}
			}
			buf, _ := br.Peek(min(rem, br.Buffered()))
			if _, err := dst.Write(buf); err != nil {
				return err
			}
			br.Discard(len(buf))
			rem -= len(buf)
			continue
		}
		hdr, err := br.Peek(mysqlwire.HeaderSize)
		if err != nil {
			return err
		}
		n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
		if hdr[3] == 0 && n >= 1 && n <= maxInspect {
			pkt, err := br.Peek(mysqlwire.HeaderSize + n)
			if err != nil {
				return err
			}
			if pkt[4] == comQuery && mayRewrite(pkt[5:]) {
				if q, users, ok := rewriteQuery(ss.srv.cfg.Secret, string(pkt[5:])); ok {
					ss.srv.noteRewrite(users)
					out, _ := mysqlwire.AppendPacket(nil, 0, append([]byte{comQuery}, q...))
					if _, err := dst.Write(out); err != nil {
						return err
					}
					br.Discard(len(pkt))
					ss.srv.rewrites.Add(1)
					ss.srv.log.Info("mysqlfront: rewrote IAM user statement to the sandbox emulation",
						"client", ss.client.RemoteAddr().String(), "user", ss.user)
					continue
				}
			}
		}
		// Pass this packet and the following buffered ones, up to the next
		// COM_QUERY that starts a command (which gets inspected).
		buf, _ := br.Peek(br.Buffered())
		j := 0
		for first := true; j+mysqlwire.HeaderSize <= len(buf); first = false {
			n := int(buf[j]) | int(buf[j+1])<<8 | int(buf[j+2])<<16
			if !first && buf[j+3] == 0 && (j+5 > len(buf) || buf[j+4] == comQuery) {
				break
			}
			end := j + mysqlwire.HeaderSize + n
			if end > len(buf) {
				rem = end - len(buf)
				j = len(buf)
				break
			}
			j = end
		}
		if _, err := dst.Write(buf[:j]); err != nil {
			return err
		}
		br.Discard(j)
	}
}
