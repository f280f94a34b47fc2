package awsconf

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/smithy-go"

	"github.com/rdsgate/rdsgate/setting"
)

// Error is a configuration or credentials failure explained for a person:
// a short summary, the next step, and the SDK's error underneath for -v.
type Error struct {
	Summary string       // what is wrong, e.g. "no AWS credentials found"
	Hint    setting.Text // what to do, e.g. "run `aws sso login --profile dev`"
	Err     error        // the SDK error, for errors.As and verbose output
}

func (e *Error) Error() string { return e.Render(setting.Style{}) }

// Hidden is the SDK error the message leaves out (stage.Details shows it).
func (e *Error) Hidden() error { return e.Err }

// Render is the message with the settings the hint names spelled in s.
func (e *Error) Render(s setting.Style) string {
	if e.Hint.IsZero() {
		return e.Summary
	}
	return e.Summary + ": " + e.Hint.Render(s)
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
			Hint:    setting.Plain("list profiles with `aws configure list-profiles`, or create it with `aws configure --profile " + notExist.Profile + "`"),
			Err:     err,
		}
	}
	var ssoErr *ssocreds.InvalidTokenError
	msg := err.Error()
	if errors.As(err, &ssoErr) || strings.Contains(msg, "SSO session has expired") ||
		strings.Contains(msg, "failed to read cached SSO token") || strings.Contains(msg, "refresh cached SSO token failed") {
		return &Error{
			Summary: "AWS SSO session expired or missing",
			Hint:    setting.Plain("run `aws sso login --profile " + profile + "`"),
			Err:     err,
		}
	}
	var missingRegion *aws.MissingRegionError
	if errors.As(err, &missingRegion) {
		return &Error{
			Summary: "no AWS region configured",
			Hint:    regionHint(profile),
			Err:     err,
		}
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "ExpiredToken", "ExpiredTokenException", "RequestExpired":
			return &Error{
				Summary: "AWS credentials expired",
				Hint:    setting.Plain("refresh them (`aws sso login --profile " + profile + "`, or assume the role again)"),
				Err:     err,
			}
		case "InvalidClientTokenId", "UnrecognizedClientException":
			return &Error{
				Summary: "AWS rejected the access key id",
				Hint:    setting.Plain("the key is unknown or deactivated; check `aws configure list --profile " + profile + "`"),
				Err:     err,
			}
		case "SignatureDoesNotMatch":
			return &Error{
				Summary: "AWS rejected the request signature",
				Hint:    setting.Plain("the secret access key does not match the key id; check your credentials, and your clock"),
				Err:     err,
			}
		}
	}
	if errors.Is(err, errNoProvider) || strings.Contains(msg, "no EC2 IMDS role found") ||
		strings.Contains(msg, "failed to retrieve credentials") || strings.Contains(msg, "no valid providers") {
		return &Error{
			Summary: "no AWS credentials found",
			Hint:    setting.Plain("run `aws configure`, `aws sso login --profile " + profile + "`, or set AWS_PROFILE / AWS_ACCESS_KEY_ID"),
			Err:     err,
		}
	}
	return err
}

// regionHint says how to choose a region, for profile.
func regionHint(profile string) setting.Text {
	return setting.Textf("pass %s, set AWS_REGION, or run `aws configure set region REGION --profile %s`", setting.Region, profile)
}
