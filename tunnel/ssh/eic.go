package ssh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"github.com/aws/smithy-go"
	"golang.org/x/crypto/ssh"
)

// KeyPusher is the EC2 Instance Connect call rdsgate makes;
// *ec2instanceconnect.Client implements it.
type KeyPusher interface {
	SendSSHPublicKey(ctx context.Context, in *ec2instanceconnect.SendSSHPublicKeyInput,
		optFns ...func(*ec2instanceconnect.Options)) (*ec2instanceconnect.SendSSHPublicKeyOutput, error)
}

// EIC configures EC2 Instance Connect for one hop: before each connection
// to it a fresh ed25519 key pair is made in memory, its public half pushed
// with SendSSHPublicKey (valid 60 s), and the login made with it. The
// private key never leaves the process and is dropped after the login.
type EIC struct {
	// Pusher calls the API (an *ec2instanceconnect.Client). Required.
	Pusher KeyPusher
	// InstanceID is the bastion's EC2 instance id (i-...). Required.
	InstanceID string
	// AvailabilityZone is the instance's zone; optional.
	AvailabilityZone string
	// Hop is the alias or host of the hop it applies to, as written in the
	// chain; "" means the last hop (the bastion that dials the database).
	Hop string
}

// pushKey makes an ephemeral key and pushes it for osUser.
func (e *EIC) pushKey(ctx context.Context, osUser string) (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ec2 instance connect: generate key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("ec2 instance connect: %w", err)
	}
	in := &ec2instanceconnect.SendSSHPublicKeyInput{
		InstanceId:     aws.String(e.InstanceID),
		InstanceOSUser: aws.String(osUser),
		SSHPublicKey:   aws.String(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))),
	}
	if e.AvailabilityZone != "" {
		in.AvailabilityZone = aws.String(e.AvailabilityZone)
	}
	out, err := e.Pusher.SendSSHPublicKey(ctx, in)
	if err != nil {
		return nil, e.explain(osUser, err)
	}
	if out != nil && !out.Success {
		return nil, fmt.Errorf("ec2 instance connect: SendSSHPublicKey for %s as %s did not succeed (request %s)",
			e.InstanceID, osUser, aws.ToString(out.RequestId))
	}
	return signer, nil
}

// explain wraps an API error with the next step.
func (e *EIC) explain(osUser string, err error) error {
	base := fmt.Sprintf("ec2 instance connect: push a one-minute key to %s for OS user %s", e.InstanceID, osUser)
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "AccessDeniedException":
			return fmt.Errorf("%s: %w; your AWS identity needs ec2-instance-connect:SendSSHPublicKey on arn:aws:ec2:REGION:ACCOUNT:instance/%s "+
				"(policies often limit it with the condition ec2:osuser = %q)", base, err, e.InstanceID, osUser)
		case "EC2InstanceNotFoundException":
			return fmt.Errorf("%s: %w; check the instance id, the region and the availability zone (%q)", base, err, e.AvailabilityZone)
		case "EC2InstanceStateInvalidException", "EC2InstanceUnavailableException":
			return fmt.Errorf("%s: %w; the bastion must be running", base, err)
		}
	}
	return fmt.Errorf("%s: %w", base, err)
}
