package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Files the sandbox writes into its directory.
const (
	awsConfigFile      = "aws-config"
	awsCredentialsFile = "aws-credentials"
	caFile             = "ca.pem"
	rdsgateConfigFile  = "rdsgate.yaml"
	envFile            = "env"
	stateFile          = "sandbox.json"
	readyFile          = "ready"
)

// State is what DIR/sandbox.json says about a running sandbox: enough for a
// script or a test to find every piece. It holds no secrets; those are only
// in the credentials file (mode 0600).
type State struct {
	APIURL     string           `json:"api_url"`
	Region     string           `json:"region"`
	Account    string           `json:"account"`
	CAFile     string           `json:"ca_file"`
	BastionID  string           `json:"bastion_id"`
	Instances  []StateInstance  `json:"instances"`
	Principals []StatePrincipal `json:"principals"`
	Users      []string         `json:"iam_database_users"`
}

// StateInstance describes one database.
type StateInstance struct {
	Identifier   string `json:"identifier"`
	Engine       string `json:"engine"`
	Endpoint     string `json:"endpoint"`
	Port         int    `json:"port"`
	ResourceID   string `json:"resource_id"`
	FrontAddr    string `json:"front_address"`
	Backend      string `json:"backend"` // installed or embedded
	IAMAuth      bool   `json:"iam_auth"`
	MasterUser   string `json:"master_user"`
	MasterSecret string `json:"master_secret_arn"`
	Database     string `json:"database"`
}

// StatePrincipal describes one principal (no secret key).
type StatePrincipal struct {
	Profile     string `json:"profile"`
	ARN         string `json:"arn"`
	AccessKeyID string `json:"access_key_id"`
}

// WriteFiles writes the client files, DIR/ready last:
//
//   - aws-config and aws-credentials: profiles rdsgate-sandbox (may do
//     anything, like an account administrator) and rdsgate-sandbox-intern
//     (no permissions), with endpoint_url set to the sandbox's API;
//   - ca.pem: the CA that issued the databases' certificates;
//   - rdsgate.yaml: targets demo-pg and demo-mysql;
//   - env: exports for a shell (source DIR/env);
//   - sandbox.json: the State.
func (sb *Sandbox) WriteFiles() error {
	w := sb.World
	var cfg, creds strings.Builder
	for _, p := range w.Principals {
		fmt.Fprintf(&cfg, "[profile %s]\nregion = %s\nendpoint_url = %s\noutput = json\n\n", p.Profile, w.Region, sb.APIURL)
		fmt.Fprintf(&creds, "[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", p.Profile, p.AccessKeyID, p.SecretAccessKey)
		if p.SessionToken != "" {
			fmt.Fprintf(&creds, "aws_session_token = %s\n", p.SessionToken)
		}
		creds.WriteString("\n")
	}
	var rc strings.Builder
	fmt.Fprintf(&rc, "# Written by `rdsgate sandbox`: the sandbox's databases.\ndefaults:\n  region: %s\n  profile: %s\n  ca_bundle: %s\n  user: %s\n  database: %s\ntargets:\n",
		w.Region, ProfileAdmin, sb.CAFile, IAMUser, DemoDatabase)
	st := State{APIURL: sb.APIURL, Region: w.Region, Account: w.Account, CAFile: sb.CAFile, Users: append([]string{IAMUser}, sb.iamUsers...)}
	if !sb.noBastion {
		st.BastionID = BastionID
	}
	for _, inst := range w.Instances {
		// As in AWS, the databases are reached through the bastion with
		// Session Manager; the fronts' loopback addresses are private to it.
		fmt.Fprintf(&rc, "  %s:\n    identifier: %s\n    route:\n      via: ssm\n", inst.Identifier, inst.Identifier)
		if st.BastionID != "" {
			fmt.Fprintf(&rc, "      bastion: %s\n", st.BastionID)
		}
		st.Instances = append(st.Instances, StateInstance{Identifier: inst.Identifier, Engine: inst.Engine, Endpoint: inst.Endpoint,
			Port: inst.Port, ResourceID: inst.ResourceID, FrontAddr: inst.FrontAddr, IAMAuth: inst.IAMAuth,
			MasterUser: inst.MasterUser, MasterSecret: inst.MasterSecretARN, Database: DemoDatabase})
	}
	for _, p := range w.Principals {
		st.Principals = append(st.Principals, StatePrincipal{Profile: p.Profile, ARN: p.ARN, AccessKeyID: p.AccessKeyID})
	}
	state, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	env := fmt.Sprintf(`# Source this file to point the AWS CLI, the SDKs and rdsgate at the sandbox:
#   . %[1]s
export AWS_CONFIG_FILE=%[2]s
export AWS_SHARED_CREDENTIALS_FILE=%[3]s
export AWS_PROFILE=%[4]s
export AWS_REGION=%[5]s
export AWS_EC2_METADATA_DISABLED=true
export RDSGATE_CONFIG=%[6]s
export RDSGATE_CA_BUNDLE=%[7]s
export RDSGATE_SANDBOX_ENDPOINT=%[8]s
`, shq(filepath.Join(sb.Dir, envFile)), shq(filepath.Join(sb.Dir, awsConfigFile)), shq(filepath.Join(sb.Dir, awsCredentialsFile)),
		ProfileAdmin, w.Region, shq(filepath.Join(sb.Dir, rdsgateConfigFile)), shq(sb.CAFile), sb.APIURL)

	for _, f := range []struct {
		name string
		data string
		mode os.FileMode
	}{
		{awsConfigFile, cfg.String(), 0o644},
		{awsCredentialsFile, creds.String(), 0o600},
		{rdsgateConfigFile, rc.String(), 0o644},
		{envFile, env, 0o644},
		{stateFile, string(state) + "\n", 0o644},
		{readyFile, sb.APIURL + "\n", 0o644},
	} {
		if err := os.WriteFile(filepath.Join(sb.Dir, f.name), []byte(f.data), f.mode); err != nil {
			return fmt.Errorf("sandbox: write %s: %w", f.name, err)
		}
	}
	return nil
}

// shq quotes s for a POSIX shell.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
