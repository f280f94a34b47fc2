package ssm

import (
	"errors"
	"fmt"

	"github.com/aws/smithy-go"

	"github.com/rdsgate/rdsgate/stage"
)

// ErrAgentOffline is wrapped by errors for a bastion whose SSM agent is not
// connected (TargetNotConnected).
var ErrAgentOffline = errors.New("the bastion's SSM agent is offline")

// ErrDestinationRefused is wrapped by reads on a connection the bastion's
// agent could not connect to its destination (ConnectToPortError).
var ErrDestinationRefused = errors.New("the bastion could not connect to the destination")

// ErrSessionLimit is wrapped by errors for a StartSession the service
// refused because the account's Session Manager session quota is reached
// (ServiceQuotaExceededException).
var ErrSessionLimit = errors.New("the account's Session Manager session quota is reached")

// apiError turns an SSM API error into one that says what to do next. The
// SDK's error (request id, status) is wrapped but left out of the message
// (stage.Details shows it).
func apiError(op, target string, err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("ssm %s: %w", op, err)
	}
	switch ae.ErrorCode() {
	case "TargetNotConnected":
		return stage.Hidef(err, "%v: %s is not connected; start it, or check that it runs the SSM agent with an instance profile that has AmazonSSMManagedInstanceCore and reaches the ssm and ssmmessages endpoints (aws ssm describe-instance-information shows its PingStatus)",
			ErrAgentOffline, target)
	case "AccessDeniedException":
		return stage.Hidef(err, "ssm %s refused by IAM: %s; grant the action on that resource (for StartSession: the instance and the document AWS-StartPortForwardingSession*)", op, ae.ErrorMessage())
	case "InvalidDocument":
		return stage.Hidef(err, "ssm %s: the session document is not available: %s; port forwarding needs AWS-StartPortForwardingSessionToRemoteHost (agent 3.1.1188.0 or later)", op, ae.ErrorMessage())
	case "ServiceQuotaExceededException":
		return stage.Hidef(err, "%v: %s; end sessions that are no longer used (aws ssm describe-sessions --state Active lists them), use fewer sessions per route, or ask for a higher quota", ErrSessionLimit, ae.ErrorMessage())
	case "InvalidParameters":
		return stage.Hidef(err, "ssm %s: the document refused the parameters: %s", op, ae.ErrorMessage())
	}
	return stage.Hidef(err, "ssm %s: %s: %s", op, ae.ErrorCode(), ae.ErrorMessage())
}
