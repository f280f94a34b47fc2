package awsapi

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
)

// sshEd25519 formats a fresh ed25519 public key as an OpenSSH line.
func sshEd25519(t testing.TB) string {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var blob []byte
	for _, part := range [][]byte{[]byte("ssh-ed25519"), pub} {
		blob = binary.BigEndian.AppendUint32(blob, uint32(len(part)))
		blob = append(blob, part...)
	}
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " test@sandbox"
}

func TestSendSSHPublicKey(t *testing.T) {
	e := start(t)
	key := sshEd25519(t)
	in := func(user, k string) *ec2instanceconnect.SendSSHPublicKeyInput {
		return &ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(bastionID), InstanceOSUser: aws.String(user), SSHPublicKey: aws.String(k)}
	}
	dev := ec2instanceconnect.NewFromConfig(e.cfg(t, "dev"))
	out, err := dev.SendSSHPublicKey(ctx(t), in("ec2-user", key))
	if err != nil {
		t.Fatal(err)
	}
	if !out.Success || aws.ToString(out.RequestId) == "" {
		t.Errorf("SendSSHPublicKey = %+v", out)
	}
	if got := e.srv.PushedKeys(bastionID, "ec2-user"); len(got) != 1 || got[0] != key {
		t.Errorf("PushedKeys = %v", got)
	}
	if got := e.srv.PushedKeys(bastionID, "root"); len(got) != 0 {
		t.Errorf("PushedKeys(root) = %v", got)
	}
	// The developer's policy allows ec2-user only (condition ec2:osuser).
	_, err = dev.SendSSHPublicKey(ctx(t), in("root", key))
	wantCode(t, err, "AccessDeniedException", "ec2-instance-connect:SendSSHPublicKey on resource: arn:aws:ec2:us-east-1:111122223333:instance/"+bastionID)
	_, err = ec2instanceconnect.NewFromConfig(e.cfg(t, "intern")).SendSSHPublicKey(ctx(t), in("ec2-user", key))
	wantCode(t, err, "AccessDeniedException")
	_, err = dev.SendSSHPublicKey(ctx(t), in("ec2-user", "ssh-dss AAAAB3NzaC1kc3MAAACBAP"))
	wantCode(t, err, "InvalidArgsException")
	_, err = dev.SendSSHPublicKey(ctx(t), in("ec2-user", "ssh-rsa "+key[len("ssh-ed25519 "):]))
	wantCode(t, err, "InvalidArgsException")
	admin := ec2instanceconnect.NewFromConfig(e.cfg(t, "admin"))
	_, err = admin.SendSSHPublicKey(ctx(t), &ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String("i-0123456789abcdef0"),
		InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(key)})
	wantCode(t, err, "EC2InstanceNotFoundException")
	_, err = admin.SendSSHPublicKey(ctx(t), &ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(bastionID),
		InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(key), AvailabilityZone: aws.String("us-east-1a")})
	if err != nil {
		t.Errorf("with the right AZ: %v", err)
	}

	// Keys expire after 60 s.
	e.clock.advance(61 * time.Second)
	if got := e.srv.PushedKeys(bastionID, "ec2-user"); len(got) != 0 {
		t.Errorf("PushedKeys after 61 s = %v", got)
	}
}
