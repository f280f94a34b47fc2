// Package setting names rdsgate's user-facing settings, so that a library can
// say which setting fixes a problem without knowing how its caller spells it:
// messages are Texts (and errors are Errors) with setting references in them,
// spelled by default as config-file keys ("ca_bundle") and by the command line
// as its flags.
package setting

// Name is one user-facing setting. Its value is the neutral spelling: the
// config-file key where there is one ("ca_bundle", "route.bastion"), else a
// name in the same style ("ssh_accept_new").
type Name string

// The settings messages name. The ones with a config-file key come first.
const (
	// Region is the AWS region of the target.
	Region Name = "region"
	// Profile is the AWS profile.
	Profile Name = "profile"
	// User is the database user.
	User Name = "user"
	// Database is the database name.
	Database Name = "database"
	// CABundle is a PEM file of CAs that verify the database's certificate.
	CABundle Name = "ca_bundle"
	// Via is the route: direct, ssm or ssh.
	Via Name = "route.via"
	// Address is where the direct route dials instead of the endpoint.
	Address Name = "route.address"
	// Bastion is the Session Manager (or EC2 Instance Connect) bastion's
	// instance id.
	Bastion Name = "route.bastion"
	// BastionTag picks the bastion by tag, KEY=VALUE.
	BastionTag Name = "route.bastion_tag"
	// SSH is the ssh route's USER@HOST[:PORT], or a jump chain.
	SSH Name = "route.ssh"
	// SSHIdentity is the ssh route's private key file.
	SSHIdentity Name = "route.ssh_identity"
	// SSHKnownHosts is the ssh route's known_hosts file.
	SSHKnownHosts Name = "route.ssh_known_hosts"
	// SSHEIC logs in to the ssh bastion with a key pushed by EC2 Instance
	// Connect.
	SSHEIC Name = "route.ssh_eic"

	// SSHAcceptNew records an unknown ssh host key on first use.
	SSHAcceptNew Name = "ssh_accept_new"
	// MaxConnections caps the proxy's open sessions per listener.
	MaxConnections Name = "max_connections"
	// LocalCert is the certificate the proxy serves TLS with on the local
	// leg; LocalKey is its private key.
	LocalCert Name = "local_cert"
	// LocalKey is the private key of LocalCert.
	LocalKey Name = "local_key"
	// Quit turns on the proxy's POST /quitquitquit endpoint.
	Quit Name = "quitquitquit"
	// Privileges are the explicit table privileges of a custom grant.
	Privileges Name = "privileges"
	// Schema is a PostgreSQL schema a grant is on.
	Schema Name = "schema"
	// ReadOnly asks a grant for SELECT only.
	ReadOnly Name = "read_only"
	// ReadWrite asks a grant for SELECT, INSERT, UPDATE and DELETE.
	ReadWrite Name = "read_write"
	// Owner asks a grant for everything on the schema or database.
	Owner Name = "owner"
	// Until is the time an access policy stops allowing access.
	Until Name = "until"
	// For is how long from now an access policy allows access.
	For Name = "for"
	// AdminSecret is the Secrets Manager secret of the administrative
	// user that grant, revoke and users log in as.
	AdminSecret Name = "admin_secret"
	// SSLNegotiation is how a PostgreSQL upstream starts TLS: postgres or
	// direct.
	SSLNegotiation Name = "ssl_negotiation"
	// PasswordSecret, PasswordEnv and PasswordFile are the password
	// sources of auth: password.
	PasswordSecret Name = "password_secret"
	PasswordEnv    Name = "password_env"
	PasswordFile   Name = "password_file"
	// AllowNonLoopback lets the proxy listen beyond loopback.
	AllowNonLoopback Name = "allow_non_loopback"
	// NoStart refuses to start a stopped managed bastion.
	NoStart Name = "no_start"
	// Host and Port are a database endpoint given by hand (a token's).
	Host Name = "host"
	Port Name = "port"
	// Remote is where a plain tunnel forwards to, HOST:PORT.
	Remote Name = "remote"
	// FailOn, ProductionTag and Check are an audit's: the severity that
	// fails it, the tags of production databases, a check to run.
	FailOn        Name = "fail_on"
	ProductionTag Name = "production_tag"
	Check         Name = "check"
	// Fault is a fault the sandbox switches on.
	Fault Name = "fault"
	// Client is the database client connect runs (psql, mysql, ...).
	Client Name = "client"
	// HTTPAddress is where the proxy serves health and metrics.
	HTTPAddress Name = "http_address"
	// Apply runs a grant's or revoke's SQL instead of printing it.
	Apply Name = "apply"
	// AttachTo is the IAM principal (role/NAME, user/NAME, group/NAME) a
	// policy is attached to.
	AttachTo Name = "attach_to"
	// DenyDelete asks for the deletion guard instead of an access policy.
	DenyDelete Name = "deny_delete"
	// BreakGlass are the principals the deletion guard still lets modify
	// the databases.
	BreakGlass Name = "break_glass"
	// Backend is what serves the sandbox's data: auto, installed,
	// embedded or a server's URL.
	Backend Name = "backend"
	// Subnet is the subnet a managed bastion goes in.
	Subnet Name = "subnet"
	// Endpoints says whether a managed bastion gets Session Manager's
	// interface endpoints: auto, yes or no.
	Endpoints Name = "endpoints"
)

// keyed are the settings with a config-file key; all is every setting.
var (
	keyed = []Name{Region, Profile, User, Database, CABundle, Via, Address, Bastion, BastionTag,
		SSH, SSHIdentity, SSHKnownHosts, SSHEIC}
	all = append(keyed[:len(keyed):len(keyed)],
		SSHAcceptNew, MaxConnections, LocalCert, LocalKey, Quit, Privileges, Schema, ReadOnly, ReadWrite, Owner, Until, For, AdminSecret, SSLNegotiation, PasswordSecret, PasswordEnv, PasswordFile, AllowNonLoopback, NoStart, Host, Port, Remote, FailOn, ProductionTag, Check, Fault, Client, HTTPAddress, Apply, AttachTo, Backend, DenyDelete, BreakGlass,
		Subnet, Endpoints)
)

// All returns every setting, for a program that spells them (a test can
// check that it spells each one).
func All() []Name { return append([]Name(nil), all...) }

// String is the neutral spelling.
func (n Name) String() string { return string(n) }

// Key is the setting's config-file key (dotted for nested keys, e.g.
// "route.bastion"), or "" when the config file has none.
func (n Name) Key() string {
	for _, k := range keyed {
		if k == n {
			return string(n)
		}
	}
	return ""
}

// Is refers to the setting with a value (or a placeholder for one), e.g.
// Via.Is("ssm") or CABundle.Is("FILE").
func (n Name) Is(value string) Ref { return Ref{Name: n, Value: value} }

// Ref is a setting named in a message, with the value that goes with it
// ("" for none).
type Ref struct {
	Name  Name
	Value string
}

// Style is how a program spells settings in messages. The zero Style spells
// them neutrally: the setting's Name, and a value after "=" (user=jane).
type Style struct {
	// Names spells each setting, e.g. Names[CABundle] = "--ca-bundle"; a
	// setting it lacks keeps its neutral Name.
	Names map[Name]string
	// Assign goes between a setting and its value; "" means "=".
	Assign string
}

// Spell spells r in s.
func (s Style) Spell(r Ref) string {
	name, ok := s.Names[r.Name]
	if !ok {
		name = string(r.Name)
	}
	if r.Value == "" {
		return name
	}
	if s.Assign == "" {
		return name + "=" + r.Value
	}
	return name + s.Assign + r.Value
}
