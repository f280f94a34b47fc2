package ssh

import (
	"errors"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/setting"
)

// Messages name the settings that fix them; a caller spells them (the
// command line: as its flags).
func TestMessagesNameSettings(t *testing.T) {
	flags := setting.Style{Assign: " ", Names: map[setting.Name]string{setting.SSHIdentity: "--ssh-identity",
		setting.SSHEIC: "--ssh-eic", setting.SSH: "--ssh", setting.Via: "--via", setting.SSHAcceptNew: "--ssh-accept-new"}}
	refused := errors.New("ssh: unable to authenticate")
	hop := Hop{User: "ops", Host: "bastion", Port: 22}
	proxyCommand := func() error {
		cfg, err := ParseSSHConfig([]byte("Host c\n  ProxyCommand nc %h %p\n"), "cfg")
		if err != nil {
			t.Fatal(err)
		}
		specs, err := ParseChain("u@c")
		if err != nil {
			t.Fatal(err)
		}
		_, err = ResolveChain(specs, cfg, "local", "/home/x", nil)
		return err
	}
	tests := []struct {
		desc          string
		err           error
		neutral, flag string
	}{
		{"no agent", authError(hop, &offer{}, false, "", refused),
			"or pass route.ssh_identity=FILE, or use route.ssh_eic: ssh: unable", "or pass --ssh-identity FILE, or use --ssh-eic: ssh: unable"},
		{"agent", authError(hop, &offer{}, false, "/tmp/agent", refused),
			"or pass route.ssh_identity=FILE, or use route.ssh_eic;", "or pass --ssh-identity FILE, or use --ssh-eic;"},
		{"ProxyCommand", proxyCommand(), "(or a chain in route.ssh) for jump hosts, or route.via=ssm for",
			"(or a chain in --ssh) for jump hosts, or --via ssm for"},
		{"unknown host key", &UnknownHostKeyError{Host: "bastion"}, "connect once with ssh_accept_new to record", "connect once with --ssh-accept-new to record"},
	}
	for _, tc := range tests {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.desc)
			continue
		}
		if got := tc.err.Error(); !strings.Contains(got, tc.neutral) {
			t.Errorf("%s: %q, want it to contain %q", tc.desc, got, tc.neutral)
		}
		if got := setting.Render(tc.err, flags); !strings.Contains(got, tc.flag) {
			t.Errorf("%s with flags: %q, want it to contain %q", tc.desc, got, tc.flag)
		}
	}
	if err := authError(hop, &offer{}, false, "", refused); !errors.Is(err, refused) {
		t.Error("the login error is not wrapped")
	}
}
