// Package awsconf loads AWS configuration and credentials the way the AWS CLI
// does (the SDK's default chain: environment, shared files, profiles, SSO,
// assume-role with MFA, web identity, container and instance metadata) and
// turns the failures people actually hit into one-line errors that say what
// to do next.
package awsconf

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
)

// Options select the profile and region; empty fields fall back to the
// environment and the shared config files, as the AWS CLI does.
type Options struct {
	// Profile is the shared-config profile; empty means AWS_PROFILE or "default".
	Profile string
	// Region overrides the profile's region and AWS_REGION.
	Region string
	// MFAPrompt is where an assume-role MFA code is asked for; nil means the
	// terminal (stderr for the prompt, stdin for the answer).
	MFAPrompt func() (string, error)
	// Stderr receives the MFA prompt when MFAPrompt is nil; nil means os.Stderr.
	Stderr io.Writer
	// ConfigFiles and CredentialsFiles replace the shared files
	// (~/.aws/config, ~/.aws/credentials, or AWS_CONFIG_FILE and
	// AWS_SHARED_CREDENTIALS_FILE) when set, e.g. with the sandbox's.
	ConfigFiles      []string
	CredentialsFiles []string
}

// Load returns an aws.Config for opts. It fails early, with a hint, when the
// profile does not exist or no region is configured; credentials are resolved
// lazily, so call Check (or any API) to find out whether they work.
//
// Endpoint overrides (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>, and
// endpoint_url in a profile or its services section) are honoured by the SDK
// itself, so the same code runs against AWS, moto_server and rdsgate's sandbox.
func Load(ctx context.Context, opts Options) (aws.Config, error) {
	var loadOpts []func(*config.LoadOptions) error
	if opts.Profile != "" {
		loadOpts = append(loadOpts, config.WithSharedConfigProfile(opts.Profile))
	}
	if opts.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(opts.Region))
	}
	if len(opts.ConfigFiles) > 0 {
		loadOpts = append(loadOpts, config.WithSharedConfigFiles(opts.ConfigFiles))
	}
	if len(opts.CredentialsFiles) > 0 {
		loadOpts = append(loadOpts, config.WithSharedCredentialsFiles(opts.CredentialsFiles))
	}
	prompt := opts.MFAPrompt
	if prompt == nil {
		w := opts.Stderr
		if w == nil {
			w = os.Stderr
		}
		prompt = func() (string, error) {
			fmt.Fprint(w, "MFA code: ")
			return stscreds.StdinTokenProvider()
		}
	}
	loadOpts = append(loadOpts, config.WithAssumeRoleCredentialOptions(func(o *stscreds.AssumeRoleOptions) {
		o.TokenProvider = prompt
	}))
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return aws.Config{}, Explain(err, profileName(opts.Profile))
	}
	if cfg.Region == "" {
		return aws.Config{}, &Error{
			Summary: "no AWS region configured",
			Hint:    regionHint(profileName(opts.Profile)),
			Err:     &aws.MissingRegionError{},
		}
	}
	return cfg, nil
}

// Check retrieves credentials from cfg's chain, so that "no credentials" and
// "SSO session expired" surface before any network call to a service.
func Check(ctx context.Context, cfg aws.Config, profile string) (aws.Credentials, error) {
	if cfg.Credentials == nil {
		return aws.Credentials{}, Explain(errNoProvider, profileName(profile))
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, Explain(err, profileName(profile))
	}
	return creds, nil
}

// ProfileName is the profile the SDK uses for p: p itself, else
// AWS_PROFILE, AWS_DEFAULT_PROFILE or "default".
func ProfileName(p string) string { return profileName(p) }

// profileName is the profile the SDK will use when none is passed.
func profileName(p string) string {
	if p != "" {
		return p
	}
	if p = os.Getenv("AWS_PROFILE"); p != "" {
		return p
	}
	if p = os.Getenv("AWS_DEFAULT_PROFILE"); p != "" {
		return p
	}
	return "default"
}
