package ssm

import (
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
)

// ErrAgentOffline is wrapped by errors for a bastion whose SSM agent is not
// connected (TargetNotConnected).
var ErrAgentOffline = errors.New("the bastion's SSM agent is offline")

// ErrDestinationRefused is wrapped by reads on a connection the bastion's
// agent could not connect to its destination (ConnectToPortError).
var ErrDestinationRefused = errors.New("the bastion could not connect to the destination")

// apiError turns an SSM API error into one that says what to do next.
func apiError(op, target string, err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("ssm %s: %w", op, err)
	}
	switch ae.ErrorCode() {
	case "TargetNotConnected":
		return fmt.Errorf("%w: %s (%s); check that the instance runs, has the SSM agent and an instance profile with AmazonSSMManagedInstanceCore, and reaches the ssm/ssmmessages endpoints; `aws ssm describe-instance-information` shows its PingStatus: %w",
			ErrAgentOffline, target, ae.ErrorMessage(), err)
	case "AccessDeniedException":
		return fmt.Errorf("ssm %s refused by IAM: %s; grant the action on that resource (for StartSession: the instance and the document AWS-StartPortForwardingSession*): %w", op, ae.ErrorMessage(), err)
	case "InvalidDocument":
		return fmt.Errorf("ssm %s: the session document is not available: %s; port forwarding needs AWS-StartPortForwardingSessionToRemoteHost (agent 3.1.1188.0 or later): %w", op, ae.ErrorMessage(), err)
	case "InvalidParameters":
		return fmt.Errorf("ssm %s: the document refused the parameters: %s: %w", op, ae.ErrorMessage(), err)
	}
	return fmt.Errorf("ssm %s: %w", op, err)
}
