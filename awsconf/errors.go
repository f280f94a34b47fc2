package awsconf

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/smithy-go"
)

// Error is a configuration or credentials failure explained for a person:
// a short summary, the next step, and the SDK's error underneath for -v.
type Error struct {
	Summary string // what is wrong, e.g. "no AWS credentials found"
	Hint    string // what to do, e.g. "run `aws sso login --profile dev`"
	Err     error  // the SDK error, for errors.As and verbose output
}

func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Summary
	}
	return e.Summary + ": " + e.Hint
}

func (e *Error) Unwrap() error { return e.Err }

var errNoProvider = errors.New("no credentials provider configured")

// Explain maps common SDK failures to an *Error with a hint; other errors are
// returned unchanged. profile names the profile in the hints.
func Explain(err error, profile string) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	var notExist config.SharedConfigProfileNotExistError
	if errors.As(err, &notExist) {
		return &Error{
			Summary: fmt.Sprintf("AWS profile %q not found", notExist.Profile),
			Hint:    "list profiles with `aws configure list-profiles`, or create it with `aws configure --profile " + notExist.Profile + "`",
			Err:     err,
		}
	}
	var ssoErr *ssocreds.InvalidTokenError
	msg := err.Error()
	if errors.As(err, &ssoErr) || strings.Contains(msg, "SSO session has expired") ||
		strings.Contains(msg, "failed to read cached SSO token") || strings.Contains(msg, "refresh cached SSO token failed") {
		return &Error{
			Summary: "AWS SSO session expired or missing",
			Hint:    "run `aws sso login --profile " + profile + "`",
			Err:     err,
		}
	}
	var missingRegion *aws.MissingRegionError
	if errors.As(err, &missingRegion) {
		return &Error{
			Summary: "no AWS region configured",
			Hint:    "pass --region, set AWS_REGION, or run `aws configure set region REGION --profile " + profile + "`",
			Err:     err,
		}
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "ExpiredToken", "ExpiredTokenException", "RequestExpired":
			return &Error{
				Summary: "AWS credentials expired",
				Hint:    "refresh them (`aws sso login --profile " + profile + "`, or assume the role again)",
				Err:     err,
			}
		case "InvalidClientTokenId", "UnrecognizedClientException":
			return &Error{
				Summary: "AWS rejected the access key id",
				Hint:    "the key is unknown or deactivated; check `aws configure list --profile " + profile + "`",
				Err:     err,
			}
		case "SignatureDoesNotMatch":
			return &Error{
				Summary: "AWS rejected the request signature",
				Hint:    "the secret access key does not match the key id; check your credentials, and your clock",
				Err:     err,
			}
		}
	}
	if errors.Is(err, errNoProvider) || strings.Contains(msg, "no EC2 IMDS role found") ||
		strings.Contains(msg, "failed to retrieve credentials") || strings.Contains(msg, "no valid providers") {
		return &Error{
			Summary: "no AWS credentials found",
			Hint:    "run `aws configure`, `aws sso login --profile " + profile + "`, or set AWS_PROFILE / AWS_ACCESS_KEY_ID",
			Err:     err,
		}
	}
	return err
}
