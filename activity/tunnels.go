package activity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

// portDocuments are the Session Manager documents that forward a port: the
// only sessions that can carry a database connection. (A shell session on
// the bastion could run a client too; it is not listed.)
var portDocuments = []string{"AWS-StartPortForwardingSessionToRemoteHost", "AWS-StartPortForwardingSession"}

// maxPages bounds DescribeSessions pages (200 sessions each).
const maxPages = 50

// tunnelSession is one active port-forwarding session on the bastion.
type tunnelSession struct {
	ID      string
	Owner   string // principal ARN
	Started time.Time
}

// describeSessions lists the active port-forwarding sessions on bastion.
func describeSessions(ctx context.Context, api SSMAPI, bastion string) ([]tunnelSession, error) {
	in := &ssm.DescribeSessionsInput{State: types.SessionStateActive, MaxResults: aws.Int32(200),
		Filters: []types.SessionFilter{{Key: types.SessionFilterKeyTargetId, Value: aws.String(bastion)}}}
	var out []tunnelSession
	for range maxPages {
		page, err := api.DescribeSessions(ctx, in)
		if err != nil {
			return nil, ssmError("list the Session Manager sessions on "+bastion, "ssm:DescribeSessions", "*", err)
		}
		for _, s := range page.Sessions {
			if !slices.Contains(portDocuments, aws.ToString(s.DocumentName)) {
				continue
			}
			out = append(out, tunnelSession{ID: aws.ToString(s.SessionId), Owner: aws.ToString(s.Owner), Started: aws.ToTime(s.StartDate)})
		}
		if aws.ToString(page.NextToken) == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
	return out, nil
}

// ssmError says what failed, and for a refusal the IAM statement to add.
func ssmError(what, action, resource string, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "AccessDeniedException" {
		return fmt.Errorf("%s: %w; the caller needs %s on %s", what, err, action, resource)
	}
	return fmt.Errorf("%s: %w", what, err)
}
