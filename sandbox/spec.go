package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"regexp"

	"gopkg.in/yaml.v3"

	"github.com/rdsgate/rdsgate/sandbox/iampolicy"
	"github.com/rdsgate/rdsgate/sandbox/world"
)

// SpecFileName is the optional file in the sandbox directory that declares
// what the sandbox holds.
const SpecFileName = "sandbox.yaml"

// Spec is the content of sandbox.yaml:
//
//	engines: [postgres, mysql]     # default: both
//	region: us-east-1
//	faults: [no-policy]            # see AllFaults
//	unpaced: false                 # the Session Manager agent paces like AWS's
//	iam_users: [alice, bob]        # extra IAM database users (read access to the demo data)
//	principals:                    # extra IAM identities, each with an AWS profile
//	  - profile: reader
//	    policy: |
//	      {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
//	        "Action": "rds-db:connect", "Resource": "arn:aws:rds-db:*:*:dbuser:*/alice"}]}
type Spec struct {
	Engines    []string        `yaml:"engines"`
	Region     string          `yaml:"region"`
	Faults     []string        `yaml:"faults"`
	Unpaced    bool            `yaml:"unpaced"`
	IAMUsers   []string        `yaml:"iam_users"`
	Principals []PrincipalSpec `yaml:"principals"`
}

// PrincipalSpec declares an extra principal.
type PrincipalSpec struct {
	// Profile names the principal and its AWS profile.
	Profile string `yaml:"profile"`
	// Policy is an IAM policy document (JSON); empty means no permissions.
	Policy string `yaml:"policy"`
}

// ReadSpec reads a sandbox.yaml; unknown keys are errors.
func ReadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("sandbox: %s: %w", path, err)
	}
	return &s, nil
}

// Apply fills opts from the spec where opts leaves a field empty; flags win.
func (s *Spec) Apply(opts *Options) {
	if len(opts.Engines) == 0 || len(opts.Engines) == 1 && opts.Engines[0] == "all" && len(s.Engines) > 0 {
		opts.Engines = s.Engines
	}
	if opts.Region == "" {
		opts.Region = s.Region
	}
	opts.Faults = append(append([]string{}, s.Faults...), opts.Faults...)
	opts.Unpaced = opts.Unpaced || s.Unpaced
	opts.IAMUsers = append(opts.IAMUsers, s.IAMUsers...)
	opts.Principals = append(opts.Principals, s.Principals...)
}

var nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,62}$`)

func checkUsers(users []string) error {
	for _, u := range users {
		if !nameRE.MatchString(u) || u == IAMUser {
			return fmt.Errorf("sandbox: IAM database user %q: use letters, digits, _ . - (and not %s, which exists)", u, IAMUser)
		}
	}
	return nil
}

// addPrincipals adds the spec's principals with fresh keys.
func addPrincipals(w *world.World, specs []PrincipalSpec) error {
	for _, p := range specs {
		if !nameRE.MatchString(p.Profile) || p.Profile == ProfileAdmin || p.Profile == ProfileIntern {
			return fmt.Errorf("sandbox: principal profile %q: use letters, digits, _ . - (the default profiles exist already)", p.Profile)
		}
		var docs []iampolicy.Document
		if p.Policy != "" {
			d, err := iampolicy.Parse([]byte(p.Policy))
			if err != nil {
				return fmt.Errorf("sandbox: principal %s: %w", p.Profile, err)
			}
			docs = append(docs, d)
		}
		w.Principals = append(w.Principals, world.Principal{Name: p.Profile, Profile: p.Profile,
			ARN: "arn:aws:iam::" + w.Account + ":user/" + p.Profile, UserID: "AIDA" + randUpper(17),
			AccessKeyID: "AKIA" + randUpper(16), SecretAccessKey: randSecret(), Policies: docs})
	}
	return nil
}
