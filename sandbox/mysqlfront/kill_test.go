package mysqlfront

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/mysqlwire"
)

// testGreetingID logs in with this module's codec (as a client, over plain
// TCP, as the password user) and checks that the thread id in the front's
// greeting is the backend session's CONNECTION_ID(): the id the mysql and
// mariadb CLIs put in KILL QUERY on Ctrl-C.
func testGreetingID(t *testing.T, f *fixture) {
	c, err := net.DialTimeout("tcp", f.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	mc := mysqlwire.NewConn(c, 1<<20)
	p, err := mc.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	g, err := mysqlwire.DecodeGreeting(p)
	if err != nil {
		t.Fatal(err)
	}
	if g.Capabilities.Has(mysqlwire.ClientCompress) || !g.Capabilities.Has(mysqlwire.ClientSSL) {
		t.Errorf("greeting capabilities %v: want SSL, no COMPRESS", g.Capabilities)
	}
	r := &mysqlwire.HandshakeResponse{
		Capabilities: mysqlwire.ClientMySQL | mysqlwire.ClientProtocol41 | mysqlwire.ClientSecureConnection |
			mysqlwire.ClientPluginAuth | mysqlwire.ClientLongFlag | mysqlwire.ClientTransactions,
		MaxPacketSize: 1 << 24,
		Collation:     45,
		User:          pwUser,
		AuthResponse:  mysqlwire.NativePassword(g.Scramble, pwPassword),
		AuthPlugin:    mysqlwire.PluginNativePassword,
	}
	q, _ := r.Encode()
	if err := mc.WritePacket(q); err != nil {
		t.Fatal(err)
	}
	if p, err = mc.ReadPacket(); err != nil || !mysqlwire.IsOK(p) {
		t.Fatalf("login: %x %v", p, err)
	}
	mc.ResetSeq()
	mc.WritePacket(append([]byte{0x03}, "SELECT CONNECTION_ID()"...))
	// Column count, column definition, EOF, then the row (text protocol,
	// no DEPRECATE_EOF).
	var row []byte
	for i := 0; i < 4; i++ {
		if row, err = mc.ReadPacket(); err != nil {
			t.Fatal(err)
		}
	}
	id, _, ok := mysqlwire.ReadLenEncString(row)
	if !ok {
		t.Fatalf("row %x", row)
	}
	if string(id) != strconv.FormatUint(uint64(g.ConnectionID), 10) {
		t.Fatalf("greeting thread id %d, CONNECTION_ID() %s: a client's KILL QUERY would miss", g.ConnectionID, id)
	}
}

// testCLICtrlC runs `mariadb -e "SELECT SLEEP(30)"` as the IAM user and
// interrupts it like Ctrl-C does: the client opens a second connection
// (through the front, with the same token) and sends KILL QUERY with the
// thread id of its greeting. The query must end within seconds.
func testCLICtrlC(t *testing.T, f *fixture) {
	cli := testpeer.LookPath(t, "apt-get install mariadb-client", "mariadb", "/usr/bin/mariadb")
	testpeer.LookPath(t, "apt-get install util-linux", "unshare")
	if os.Geteuid() != 0 {
		testpeer.Missing(t, "root (for a private mount namespace with /etc/hosts naming the endpoint)", "run the tests as root, as CI does")
	}
	tok := f.token(t, iamauth.Endpoint{User: "app_user"}, "", time.Now())
	_, port, _ := net.SplitHostPort(f.addr)
	hosts := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(hosts, []byte("127.0.0.1 localhost\n127.0.0.1 "+testEndpoint+"\n"), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// unshare and sh exec, so the process is the client itself.
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
		`mount --bind "$HOSTS" /etc/hosts && exec "$@"`, "sh", cli,
		"--host="+testEndpoint, "--port="+port, "--user=app_user", "--ssl", "--ssl-ca="+f.ca.CertFile,
		"--ssl-verify-server-cert", "--batch", "--execute=SELECT SLEEP(30) AS slept")
	cmd.Env = []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "HOSTS=" + hosts, "MYSQL_PWD=" + tok, "HOME=" + t.TempDir()}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	root := f.m.DB(t, "")
	running := func() int {
		var n int
		if err := root.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'app_user' AND INFO LIKE 'SELECT SLEEP(30)%'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := 0; running() == 0; i++ {
		if i == 400 {
			cmd.Process.Kill()
			<-done
			t.Fatalf("the CLI's SLEEP never started; output:\n%s", out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the CLI did not end 10 s after Ctrl-C; output:\n%s", out.String())
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Ctrl-C took %v", el)
	}
	if n := running(); n != 0 {
		t.Fatalf("the SLEEP still runs in the backend after Ctrl-C (the CLI killed another id); output:\n%s", out.String())
	}
	t.Logf("mariadb CLI after Ctrl-C: %s", strings.TrimSpace(out.String()))
}
