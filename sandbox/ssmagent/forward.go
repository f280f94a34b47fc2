package ssmagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xtaci/smux"

	"github.com/rdsgate/rdsgate/sandbox/world"
	"github.com/rdsgate/rdsgate/tunnel/ssm/ssmwire"
)

const dialTimeout = 10 * time.Second

// maxStreams bounds the concurrent smux streams of one session.
const maxStreams = 4096

// resolve maps the session's destination into the sandbox's private name
// space: an instance endpoint at its port reaches the instance's front; a
// loopback address (or localhost) is dialled as is; anything else is not
// reachable from the sandbox's bastion.
func (s *session) resolve() (string, error) {
	if s.a.opts.Faults.RefuseDestination {
		return "", fmt.Errorf("connection to %s refused (fault injected)", s.dest)
	}
	host, port, err := net.SplitHostPort(s.dest)
	if err != nil {
		return "", fmt.Errorf("bad destination %q: %v", s.dest, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("bad destination port %q", port)
	}
	for i := range s.a.opts.World.Instances {
		inst := &s.a.opts.World.Instances[i]
		if strings.EqualFold(strings.TrimSuffix(host, "."), inst.Endpoint) {
			if p != inst.Port {
				return "", fmt.Errorf("connection to %s refused: %s listens on port %d", s.dest, inst.Identifier, inst.Port)
			}
			if inst.FrontAddr == "" {
				return "", fmt.Errorf("connection to %s refused: %s is not running", s.dest, inst.Identifier)
			}
			if err := s.reaches(inst); err != nil {
				return "", fmt.Errorf("connection to %s timed out: %w", s.dest, err)
			}
			return inst.FrontAddr, nil
		}
	}
	if strings.EqualFold(host, "localhost") {
		return net.JoinHostPort("127.0.0.1", port), nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return s.dest, nil
	}
	return "", fmt.Errorf("%s is not reachable from the sandbox bastion (it reaches the sandbox's instance endpoints and loopback addresses)", host)
}

// reaches checks the VPC's security groups between the session's
// instance and the database, as they are now: a database whose group no
// longer admits the instance's is out of reach (in a VPC the connection
// would time out).
func (s *session) reaches(inst *world.Instance) error {
	w := s.a.opts.World
	var err error
	w.View(func() {
		b, ok := w.Bastion(s.info.Target)
		if !ok {
			err = fmt.Errorf("instance %s is gone", s.info.Target)
			return
		}
		err = w.ReachesDatabase(b, inst)
	})
	return err
}

func (s *session) dialDest() (net.Conn, error) {
	addr, err := s.resolve()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", s.dest, err)
	}
	return c, nil
}

// serveMux runs the smux server: one destination connection per stream
// the client opens; a failed dial answers with ConnectToPortError and
// closes the stream, as the agent does.
func (s *session) serveMux() {
	srv, err := smux.Server(s.pipe.FullReads(), smuxConfig(s.smuxKeepAliveOff))
	if err != nil {
		s.end("smux: " + err.Error())
		return
	}
	go func() {
		<-s.ended
		srv.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, maxStreams)
	for {
		st, err := srv.AcceptStream()
		if err != nil {
			if !srv.IsClosed() {
				s.end("smux: " + err.Error())
			} else {
				go s.end("The multiplexed session ended: " + err.Error())
			}
			return
		}
		select {
		case sem <- struct{}{}:
		default:
			st.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.forwardStream(st)
		}()
	}
}

func (s *session) forwardStream(st *smux.Stream) {
	dst, err := s.dialDest()
	if err != nil {
		s.log.Warn("ssm port session: unable to dial the destination", "stream", st.ID(), "err", err)
		_ = s.ch.Send(ssmwire.PayloadFlag, ssmwire.FlagConnectToPortError.Bytes())
		st.Close()
		return
	}
	relay(st, dst)
}

// relay copies both ways; when either side ends both are closed (the agent
// preserves no half-close).
func relay(a io.ReadWriteCloser, b io.ReadWriteCloser) {
	done := make(chan struct{}, 2)
	cp := func(w io.Writer, r io.Reader) {
		_, _ = io.Copy(w, r)
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	a.Close()
	b.Close()
	<-done
}

// Basic mode: the one destination connection is dialled after the
// handshake; after DisconnectToPort or the destination's EOF the next
// client data dials again (writeBasic).

func (s *session) dialBasic() error {
	c, err := s.dialDest()
	if err != nil {
		return fmt.Errorf("Unable to connect to specified port: %v", err)
	}
	s.bmu.Lock()
	s.bconn = c
	s.bmu.Unlock()
	go s.readBasic(c)
	return nil
}

func (s *session) readBasic(c net.Conn) {
	pace := time.Duration(0)
	if !s.a.opts.Unpaced {
		pace = DefaultPace
	}
	buf := make([]byte, s.a.opts.PayloadSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if serr := s.ch.Send(ssmwire.PayloadOutput, append([]byte(nil), buf[:n]...)); serr != nil {
				c.Close()
				return
			}
			if pace > 0 {
				time.Sleep(pace)
			}
		}
		if err != nil {
			c.Close()
			s.bmu.Lock()
			if s.bconn == c {
				s.bconn = nil
			}
			s.bmu.Unlock()
			return
		}
	}
}

func (s *session) writeBasic(p []byte) error {
	s.bmu.Lock()
	c := s.bconn
	s.bmu.Unlock()
	if c == nil {
		if err := s.dialBasic(); err != nil {
			go s.end(err.Error())
			return nil
		}
		s.bmu.Lock()
		c = s.bconn
		s.bmu.Unlock()
	}
	if c == nil {
		return nil
	}
	if _, err := c.Write(p); err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Info("ssm port session: destination write failed", "err", err)
	}
	return nil
}

func (s *session) closeBasic() {
	s.bmu.Lock()
	c := s.bconn
	s.bconn = nil
	s.bmu.Unlock()
	if c != nil {
		c.Close()
	}
}
