package sandbox

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/smithy-go"
)

// TestLogsDownFault checks that the logs-down fault makes CloudWatch Logs
// unavailable for its duration from the start, and Sandbox.LogsDown for
// the duration given.
func TestLogsDownFault(t *testing.T) {
	sb, _ := start(t, []string{"postgres"}, FaultLogsDown)
	p := sb.Principal(ProfileAdmin)
	api := cloudwatchlogs.New(cloudwatchlogs.Options{Region: sb.World.Region, BaseEndpoint: aws.String(sb.APIURL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(p.AccessKeyID, p.SecretAccessKey, "")})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	create := func(name string) error {
		_, err := api.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(name)})
		return err
	}
	wantDown := func(when string) {
		t.Helper()
		var ae smithy.APIError
		if err := create("down"); !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailableException" {
			t.Errorf("%s: want ServiceUnavailableException, got %v", when, err)
		}
	}
	wantDown("with the fault on")
	var until time.Time
	sb.World.View(func() { until = sb.World.LogsDownUntil })
	if d := time.Until(until); d < DefaultLogsDown-5*time.Second || d > DefaultLogsDown {
		t.Errorf("the fault lasts %v more, want about %v", d, DefaultLogsDown)
	}
	sb.LogsDown(0)
	if err := create("up"); err != nil {
		t.Fatalf("after LogsDown(0): %v", err)
	}
	sb.LogsDown(time.Hour)
	wantDown("after LogsDown(1h)")
}
