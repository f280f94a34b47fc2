package awsapi

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"regexp"
	"slices"
	"strings"
	"time"
)

// PushedKeyLifetime is how long a key pushed with SendSSHPublicKey is
// offered to sshd, as EC2 Instance Connect does.
const PushedKeyLifetime = 60 * time.Second

// pushedKey is a key pushed with SendSSHPublicKey.
type pushedKey struct {
	instanceID string
	osUser     string
	key        string
	at         time.Time
}

// PushedKeys returns the public keys pushed for osUser on instanceID in the
// last [PushedKeyLifetime], oldest first: what the bastion's sshd
// AuthorizedKeysCommand offers.
func (s *Server) PushedKeys(instanceID, osUser string) []string {
	cutoff := s.now().Add(-PushedKeyLifetime)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, k := range s.keys {
		if k.instanceID == instanceID && k.osUser == osUser && k.at.After(cutoff) {
			out = append(out, k.key)
		}
	}
	return out
}

type sendSSHPublicKeyInput struct {
	InstanceID       *string `json:"InstanceId"`
	InstanceOSUser   *string `json:"InstanceOSUser"`
	SSHPublicKey     *string `json:"SSHPublicKey"`
	AvailabilityZone *string `json:"AvailabilityZone"`
}

type sendSSHPublicKeyOutput struct {
	RequestID string `json:"RequestId"`
	Success   bool   `json:"Success"`
}

var (
	osUserRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9\@\._-]{0,30}[A-Za-z0-9\$_-]?$`)
	instanceIDRE = regexp.MustCompile(`^i-[a-zA-Z0-9]{1,64}$`)
)

// sshKeyTypes are the key types EC2 Instance Connect accepts.
var sshKeyTypes = []string{"ssh-rsa", "ssh-ed25519"}

// sendSSHPublicKey answers EC2 Instance Connect SendSSHPublicKey: after
// authorizing ec2-instance-connect:SendSSHPublicKey on the instance with
// the condition key ec2:osuser, the key is offered for that user for 60 s.
func (s *Server) sendSSHPublicKey(c *call) (any, *apiError) {
	var in sendSSHPublicKeyInput
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	switch {
	case in.InstanceID == nil:
		return nil, missingParam(c.svc, "InstanceId")
	case in.InstanceOSUser == nil:
		return nil, missingParam(c.svc, "InstanceOSUser")
	case in.SSHPublicKey == nil:
		return nil, missingParam(c.svc, "SSHPublicKey")
	}
	id, user, key := *in.InstanceID, *in.InstanceOSUser, strings.TrimSpace(*in.SSHPublicKey)
	if !instanceIDRE.MatchString(id) {
		return nil, clientError("InvalidArgsException", "Invalid instance ID: %s", shorten(id))
	}
	if !osUserRE.MatchString(user) {
		return nil, clientError("InvalidArgsException", "Invalid OS user: %s", shorten(user))
	}
	if e := checkSSHPublicKey(key); e != nil {
		return nil, e
	}
	b, _, known := s.instance(id)
	extra := map[string]string{"ec2:osuser": user}
	if known {
		for k, v := range b.Tags {
			extra["ec2:ResourceTag/"+k] = v
			extra["aws:ResourceTag/"+k] = v
		}
	}
	if e := s.authorize(c, "ec2-instance-connect:SendSSHPublicKey", s.arn("ec2", "instance/"+id), extra); e != nil {
		return nil, e
	}
	if !known {
		return nil, clientError("EC2InstanceNotFoundException", "Instance not found").withReason("no bastion %s", quoteShort(id))
	}
	if in.AvailabilityZone != nil && *in.AvailabilityZone != or(b.AvailabilityZone, s.world.Region+"a") {
		return nil, clientError("EC2InstanceNotFoundException", "Instance not found").
			withReason("availability zone %s is not the instance's", quoteShort(*in.AvailabilityZone))
	}
	now := s.now()
	cutoff := now.Add(-PushedKeyLifetime)
	s.mu.Lock()
	s.keys = slices.DeleteFunc(s.keys, func(k pushedKey) bool { return !k.at.After(cutoff) })
	s.keys = append(s.keys, pushedKey{instanceID: id, osUser: user, key: key, at: now})
	s.mu.Unlock()
	s.log.Info("ssh public key pushed", "instance", id, "os_user", user, "principal", c.principal.ARN)
	return sendSSHPublicKeyOutput{RequestID: c.reqID, Success: true}, nil
}

// checkSSHPublicKey accepts an OpenSSH public key line of a type Instance
// Connect supports whose base64 blob names the same type.
func checkSSHPublicKey(key string) *apiError {
	bad := func(why string) *apiError {
		return clientError("InvalidArgsException", "Invalid SSH public key.").withReason("ssh public key: %s", why)
	}
	if len(key) > 4096 {
		return bad("longer than 4096 bytes")
	}
	fields := strings.Fields(key)
	if len(fields) < 2 {
		return bad("not of the form TYPE BASE64 [COMMENT]")
	}
	if !slices.Contains(sshKeyTypes, fields[0]) {
		return bad("type " + quoteShort(fields[0]) + " is not supported")
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil || len(blob) < 4 {
		return bad("key data is not base64")
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) || !bytes.Equal(blob[4:4+n], []byte(fields[0])) {
		return bad("key data does not match its type")
	}
	return nil
}
