package sandbox

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/sandbox/iampolicy"
	"github.com/rdsgate/rdsgate/sandbox/world"
	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/suggest"
)

// Names of the sandbox's default objects; tests and docs rely on them.
const (
	ProfileAdmin   = "rdsgate-sandbox"
	ProfileIntern  = "rdsgate-sandbox-intern"
	InstancePG     = "demo-pg"
	InstanceMySQL  = "demo-mysql"
	IAMUser        = "app_user"
	DemoDatabase   = "demo"
	BastionID      = "i-0sandbox00000000b1"
	BastionName    = "rdsgate-sandbox-bastion"
	VPCID          = "vpc-0sandbox0000000001"
	subnetID       = "subnet-0sandbox000000001"
	bastionSG      = "sg-0sandbox0000bastion"
	masterUserPG   = "dbadmin"
	masterUserMy   = "admin"
	sgPrefixDB     = "sg-0sandbox00000db"
	resourcePrefix = "db-"
)

// Faults the sandbox can switch on, for tests and for trying `doctor`.
const (
	FaultIAMAuthDisabled = "iam-auth-disabled"
	FaultAgentOffline    = "agent-offline"
	FaultSGBlocksBastion = "sg-blocks-bastion"
	FaultUserNotIAM      = "user-not-iam"
	FaultNoPolicy        = "no-policy"
	FaultWrongCA         = "wrong-ca"
	FaultExpiredCert     = "expired-cert"
	// FaultLogsDown makes CloudWatch Logs unavailable for Options.LogsDownFor
	// after the start (default DefaultLogsDown), as an outage would.
	FaultLogsDown = "logs-down"
	// FaultSSMSessionLimit bounds the account's concurrent Session Manager
	// sessions to DefaultSSMSessionLimit: StartSession beyond it fails with
	// ServiceQuotaExceededException.
	FaultSSMSessionLimit = "ssm-session-limit"
)

// DefaultLogsDown is how long the logs-down fault lasts by default.
const DefaultLogsDown = 30 * time.Second

// DefaultSSMSessionLimit is the concurrent-session limit of the
// ssm-session-limit fault: room for a pool to grow past one session, and to
// hit the limit.
const DefaultSSMSessionLimit = 2

// AllFaults lists every fault name.
var AllFaults = []string{FaultIAMAuthDisabled, FaultAgentOffline, FaultSGBlocksBastion, FaultUserNotIAM, FaultNoPolicy, FaultWrongCA, FaultExpiredCert, FaultLogsDown, FaultSSMSessionLimit}

// CheckFaults refuses an unknown fault name, with the nearest known one
// or the list of them.
func CheckFaults(faults []string) error {
	for _, f := range faults {
		if slices.Contains(AllFaults, f) {
			continue
		}
		if hint, ok := suggest.Closest(f, AllFaults); ok {
			return setting.Invalidf("%s: no such fault; did you mean %s?", setting.Fault.Is(strconv.Quote(f)), hint)
		}
		return setting.Invalidf("%s: no such fault (%s)", setting.Fault.Is(strconv.Quote(f)), strings.Join(AllFaults, ", "))
	}
	return nil
}

// checkFaults is CheckFaults, returning the set of faults.
func checkFaults(faults []string) (map[string]bool, error) {
	if err := CheckFaults(faults); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, f := range faults {
		set[f] = true
	}
	return set, nil
}

// adminPolicy lets the default principal do what an account administrator
// could: everything, including rds-db:connect as any user. With the
// no-policy fault it can do everything but connect to databases.
func adminPolicy(noConnect bool) iampolicy.Document {
	d := iampolicy.Document{Version: "2012-10-17", Statement: []iampolicy.Statement{
		{Sid: "Administrator", Effect: "Allow", Action: iampolicy.StringList{"*"}, Resource: iampolicy.StringList{"*"}},
	}}
	if noConnect {
		d.Statement[0] = iampolicy.Statement{Sid: "AdministratorWithoutDatabaseLogin", Effect: "Allow",
			NotAction: iampolicy.StringList{"rds-db:*"}, Resource: iampolicy.StringList{"*"}}
	}
	return d
}

// addBastion gives w a bastion built as the careful way says, by hand:
// IMDSv2, no key pair, no public IP, a role with only
// AmazonSSMManagedInstanceCore, and Session Manager's interface endpoints
// in its private subnet (admitting it on 443), so that doctor finds
// nothing to fix in the healthy sandbox.
func addBastion(w *world.World, region string, faults map[string]bool) {
	const role, endpointSG = BastionName + "-role", "sg-0sandbox000endpoint"
	now := time.Now().UTC()
	w.Bastions = []world.Bastion{{
		InstanceID: BastionID, Name: BastionName, AgentOnline: !faults[FaultAgentOffline], AgentVersion: "3.3.1957.0",
		PlatformName: "Amazon Linux", VPC: VPCID, Subnet: subnetID, AvailabilityZone: region + "a", PrivateIP: "10.0.1.10",
		SecurityGroups: []string{bastionSG}, Tags: map[string]string{"Name": BastionName},
		InstanceProfile: BastionName, HTTPTokens: "required", HopLimit: 1,
	}}
	w.SecurityGroups = []world.SecurityGroup{
		{ID: bastionSG, Name: "bastion", Description: "Session Manager bastion: no inbound", VPC: VPCID},
		{ID: endpointSG, Name: "ssm-endpoints", Description: "Session Manager endpoints: HTTPS from the bastion", VPC: VPCID,
			Ingress: []world.Rule{{Protocol: "tcp", FromPort: 443, ToPort: 443, SourceGroups: []string{bastionSG}}}},
	}
	w.Roles = []world.Role{{Name: role, ID: "AROA" + randUpper(17), ARN: "arn:aws:iam::" + w.Account + ":role/" + role,
		TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
		Policies:    []string{"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"}, Created: now}}
	w.InstanceProfiles = []world.InstanceProfile{{Name: BastionName, ID: "AIPA" + randUpper(17),
		ARN: "arn:aws:iam::" + w.Account + ":instance-profile/" + BastionName, Roles: []string{role}, Created: now}}
	for i, svc := range []string{"ssm", "ssmmessages", "ec2messages"} {
		w.Endpoints = append(w.Endpoints, world.VPCEndpoint{ID: fmt.Sprintf("vpce-0sandbox00000000%d", i+1), VPC: VPCID,
			Service: "com.amazonaws." + region + "." + svc, Subnets: []string{subnetID}, SecurityGroups: []string{endpointSG},
			PrivateDNS: true, State: "available", Created: now})
	}
}

// newWorld builds the default account: two principals, the instances for
// engines, a bastion, and the security groups between them.
//
// Without a bastion (noBastion) the databases' groups admit nobody: the
// world is what `rdsgate bastion create` starts from.
func newWorld(region string, engines []string, faults map[string]bool, noBastion bool) *world.World {
	w := &world.World{Account: world.DefaultAccount, Region: region}
	if faults[FaultSSMSessionLimit] {
		w.SessionLimit = DefaultSSMSessionLimit
	}
	w.Subnets = []world.Subnet{{ID: subnetID, VPC: VPCID, AvailabilityZone: region + "a", CIDR: "10.0.1.0/24"}}
	// A private subnet: the main table routes only inside the VPC, so a
	// bastion there needs Session Manager's interface endpoints.
	w.RouteTables = []world.RouteTable{{ID: "rtb-0sandbox000000001", VPC: VPCID, Main: true,
		Routes: []world.Route{{Destination: "10.0.0.0/16", Gateway: "local"}}}}
	w.Parameters = map[string]string{
		"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64":  "ami-0sandbox0al2023a64",
		"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64": "ami-0sandbox0al2023x86",
	}
	w.Principals = []world.Principal{
		{Name: "rdsgate-sandbox-admin", Profile: ProfileAdmin, ARN: "arn:aws:iam::" + w.Account + ":user/rdsgate-sandbox-admin", UserID: "AIDA" + randUpper(17),
			AccessKeyID: "AKIA" + randUpper(16), SecretAccessKey: randSecret(), Policies: []iampolicy.Document{adminPolicy(faults[FaultNoPolicy])}},
		{Name: "rdsgate-sandbox-intern", Profile: ProfileIntern, ARN: "arn:aws:iam::" + w.Account + ":user/rdsgate-sandbox-intern", UserID: "AIDA" + randUpper(17),
			AccessKeyID: "AKIA" + randUpper(16), SecretAccessKey: randSecret()},
	}
	if !noBastion {
		addBastion(w, region, faults)
	}
	for i, e := range engines {
		id, port, master := InstancePG, 5432, masterUserPG
		engine, version := "postgres", "15.8"
		if e == "mysql" {
			id, port, master = InstanceMySQL, 3306, masterUserMy
			engine, version = "mariadb", "10.11.9"
		}
		sg := fmt.Sprintf("%s%04d", sgPrefixDB, i+1)
		rule := world.Rule{Protocol: "tcp", FromPort: port, ToPort: port, SourceGroups: []string{bastionSG}}
		if faults[FaultSGBlocksBastion] {
			rule = world.Rule{Protocol: "tcp", FromPort: port, ToPort: port, CIDRs: []string{"10.99.0.0/16"}}
		}
		var ingress []world.Rule
		if !noBastion {
			ingress = []world.Rule{rule}
		}
		w.SecurityGroups = append(w.SecurityGroups, world.SecurityGroup{ID: sg, Name: id, Description: id + " database", VPC: VPCID, Ingress: ingress})
		secretARN := fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:rds!db-%s-%s", region, w.Account, id, randLower(6))
		w.Instances = append(w.Instances, world.Instance{
			Identifier: id, Engine: engine, EngineVersion: version, Endpoint: world.Endpoint(id, region), Port: port,
			ResourceID: resourcePrefix + randUpper(26), IAMAuth: !faults[FaultIAMAuthDisabled], Status: "available",
			VPC: VPCID, Subnets: []string{subnetID}, SecurityGroups: []string{sg}, CAIdentifier: "rdsgate-sandbox-ca",
			MasterUser: master, MasterSecretARN: secretARN,
		})
	}
	return w
}

// masterSecret is the SecretString RDS stores for a managed master password.
func masterSecret(user, password string) string {
	b, _ := json.Marshal(map[string]string{"username": user, "password": password})
	return string(b)
}

const upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func randUpper(n int) string { return randFrom(upper, n) }
func randLower(n int) string { return randFrom("abcdefghijklmnopqrstuvwxyz0123456789", n) }
func randSecret() string {
	return randFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40)
}

func randFrom(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[k.Int64()]
	}
	return string(b)
}
