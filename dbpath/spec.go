// Package dbpath opens the path to one database: from a plain-data Spec
// (what a config entry and flags mean once merged) to the AWS identity, the
// RDS target, the route's dialer, the CA bundle and the login credentials,
// as one value with a Close. The CLI's commands and Go programs share it.
package dbpath

// Spec is the path asked for. It is plain data: building one does no I/O,
// so a command line's meaning can be compared in a table test.
type Spec struct {
	// Name is the target as the user named it: a config entry, an RDS
	// instance or cluster identifier, or an endpoint.
	Name string
	// Identifier and Endpoint (with Port and Engine) say where Name points
	// when a config entry defines it; both "" means Name itself is looked
	// up with the RDS API.
	Identifier string
	Endpoint   string
	Port       int
	Engine     string

	// Profile and Region choose the AWS configuration; "" leaves the
	// choice to the SDK (AWS_PROFILE, AWS_REGION, the profile's region).
	Profile string
	Region  string

	// User and Database are the database user and database name.
	User     string
	Database string

	// Route says how bytes reach the database.
	Route Route
	// Auth says how the upstream login proves who it is.
	Auth Auth
	// CABundle is a PEM file of CAs to verify the server with; "" means
	// RDS's bundle for the target's region (downloaded once, cached).
	CABundle string
	// SSLNegotiation (PostgreSQL) is "" or "postgres" (an SSLRequest
	// first) or "direct" (TLS at once, PostgreSQL 17+).
	SSLNegotiation string
	// LocalPort is the local port the config entry asks a proxy or tunnel
	// to listen on; 0 leaves it to the command.
	LocalPort int
}

// Route is how bytes reach the database.
type Route struct {
	// Via is "direct" (the default), "ssm" or "ssh".
	Via string
	// Address (direct) is dialled instead of the endpoint, e.g. an existing
	// tunnel; (ssh) what the bastion dials instead of the endpoint. TLS is
	// still verified against the endpoint name.
	Address string
	// Bastion is the bastion's instance id (ssm; ssh with SSHEIC);
	// BastionTag picks an online one by tag, KEY=VALUE. With neither, the
	// ssm route takes the target VPC's rdsgate bastion (rdsgate bastion
	// create), started when stopped unless NoStart.
	Bastion    string
	BastionTag string
	NoStart    bool
	// SSMPlugin (ssm) is AWS's session-manager-plugin to forward through
	// instead of rdsgate's own client; "" uses rdsgate's.
	SSMPlugin string
	// SSMSessions (ssm) is how many Session Manager sessions connections
	// are spread over (0 or 1: one); each is paced on its own.
	SSMSessions int
	// SSH (ssh) is USER@HOST[:PORT], or a comma-separated jump chain.
	SSH string
	// SSHIdentity and SSHKnownHosts (ssh) are a private key file and a
	// known_hosts file; "" uses the agent / ~/.ssh/config and
	// ~/.ssh/known_hosts.
	SSHIdentity   string
	SSHKnownHosts string
	// SSHAcceptNew (ssh) records an unknown host key once; a changed key
	// is always refused.
	SSHAcceptNew bool
	// SSHEIC (ssh) logs in with a one-minute key pushed by EC2 Instance
	// Connect to the Bastion (or BastionTag) instance.
	SSHEIC bool
}

// Auth is how the upstream login proves who it is.
type Auth struct {
	// Method is "iam" (a fresh IAM token; the default when "") or
	// "password", with exactly one of the password sources below.
	Method string
	// PasswordSecret is a Secrets Manager secret (ARN or name) holding
	// {"username": ..., "password": ...} or the password alone.
	PasswordSecret string
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string
	// PasswordFile is a file whose first line is the password.
	PasswordFile string
}

// UsesPassword reports whether the login uses a password instead of an
// IAM token.
func (a Auth) UsesPassword() bool {
	return a.Method == "password" || a.PasswordSecret != "" || a.PasswordEnv != "" || a.PasswordFile != ""
}
