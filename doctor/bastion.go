package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/rdsgate/rdsgate/awsconf"
	"github.com/rdsgate/rdsgate/bastion"
	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/iamsim"
	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/target"
	ssmtunnel "github.com/rdsgate/rdsgate/tunnel/ssm"
)

// The bastion's checks after "bastion", in order: each id and title.
var bastionChecks = [][2]string{
	{"bastion-hardening", "bastion: no key pair, no public IP, IMDSv2"},
	{"agent", "SSM agent online"},
	{"instance-profile", "bastion: instance profile with AmazonSSMManagedInstanceCore"},
	{"ssm-network", "bastion: endpoints or NAT route to Systems Manager"},
	{"bastion-egress", "bastion: egress to the database and to 443"},
	{"start-session", "ssm:StartSession allowed"},
	{"security-group", "bastion may reach the database"},
}

// checkBastion checks the Session Manager bastion, whoever built it: it
// exists and is hardened, its agent is online, it has what the agent
// needs (the SSM core policy, a way to Systems Manager), its groups let
// it out to the database and to 443, the caller may start a session on
// it, and the database's groups let it in.
func checkBastion(ctx context.Context, r *Report, cfg aws.Config, id awsconf.Identity, t target.Target, route dbpath.Route) {
	var found ssmtunnel.Bastion
	res := r.run("bastion", "Session Manager bastion exists", func() Result {
		apis := ssmtunnel.BastionAPIs{EC2: ec2.NewFromConfig(cfg), SSM: ssm.NewFromConfig(cfg)}
		bs, err := ssmtunnel.DescribeBastions(ctx, apis, route.Bastion, route.BastionTag)
		if errors.Is(err, ssmtunnel.ErrNoBastion) {
			return Result{Status: Fail, Detail: setting.Plain("the ssm route needs a bastion"),
				Fix: setting.Textf("pass %s or %s, or set %s in the config file", setting.Bastion.Is("i-..."), setting.BastionTag.Is("KEY=VALUE"), setting.Bastion.Key())}
		}
		if err != nil {
			return failure(err)
		}
		if len(bs) == 0 {
			return Result{Status: Fail, Detail: setting.Plain("no running instance matches " + first(route.Bastion, route.BastionTag))}
		}
		found = bs[0]
		for _, b := range bs {
			if b.Online() { // the one the route will take
				found = b
				break
			}
		}
		inst := found.Instance
		return Result{Status: Pass, Detail: setting.Textf("%s (%s) in %s", found.ID(), aws.ToString(inst.PrivateIpAddress), aws.ToString(inst.VpcId))}
	})
	if res.Status == Fail {
		for _, c := range bastionChecks {
			r.skip(c[0], c[1], "needs the bastion")
		}
		return
	}
	bid := found.ID()
	online := found.Agent != nil && found.Agent.PingStatus == ssmtypes.PingStatusOnline
	r.run(bastionChecks[0][0], bastionChecks[0][1], func() Result { return checkHardening(found.Instance, bid) })
	r.run(bastionChecks[1][0], bastionChecks[1][1], func() Result {
		info := found.Agent
		if info == nil {
			return Result{Status: Fail, Detail: setting.Textf("%s is not registered with Systems Manager", bid),
				Fix: setting.Plain("install and start the SSM agent on the bastion; the instance-profile and ssm-network checks below say what else it lacks")}
		}
		if info.PingStatus != ssmtypes.PingStatusOnline {
			return Result{Status: Fail, Detail: setting.Textf("the SSM agent on %s is %s (agent %s)", bid, info.PingStatus, aws.ToString(info.AgentVersion)),
				Fix: setting.Plain("start the bastion and its agent (sudo systemctl restart amazon-ssm-agent); the instance-profile, ssm-network and bastion-egress checks below say what else it lacks")}
		}
		return Result{Status: Pass, Detail: setting.Textf("online, agent %s", aws.ToString(info.AgentVersion))}
	})
	// One read of what the instance depends on serves the next three
	// checks; it works for any instance, not only rdsgate's.
	host, herr := bastion.Inspect(ctx, bastion.NewClients(cfg), found.Instance)
	hostCheck := func(check func(*bastion.Host) Result) func() Result {
		return func() Result {
			if herr != nil {
				return Result{Status: Skip, Detail: setting.Textf("could not check: %v", herr)}
			}
			return check(host)
		}
	}
	r.run(bastionChecks[2][0], bastionChecks[2][1], hostCheck(func(h *bastion.Host) Result { return checkProfile(h, online) }))
	r.run(bastionChecks[3][0], bastionChecks[3][1], hostCheck(func(h *bastion.Host) Result { return checkSSMNetwork(h, cfg.Region, online) }))
	r.run(bastionChecks[4][0], bastionChecks[4][1], hostCheck(func(h *bastion.Host) Result { return checkEgress(h, t, online) }))
	r.run(bastionChecks[5][0], bastionChecks[5][1], func() Result {
		resources := []string{fmt.Sprintf("arn:aws:ec2:%s:%s:instance/%s", cfg.Region, id.Account, bid), fmt.Sprintf("arn:aws:ssm:%s::document/%s", cfg.Region, PortForwardingDocument)}
		d, err := iamsim.Allowed(ctx, cfg, id.ARN, "ssm:StartSession", resources...)
		switch {
		case err != nil:
			return Result{Status: Skip, Detail: setting.Textf("could not check: %v", err)}
		case !d.Allowed:
			return Result{Status: Fail, Detail: setting.Textf("%s may not ssm:StartSession on %s", d.Principal, d.Resource),
				Fix: setting.Textf("allow ssm:StartSession on the bastion and on document %s (rdsgate policy %s %s %s)", PortForwardingDocument, t.Identifier, setting.Via.Is("ssm"), setting.Bastion.Is(bid))}
		}
		return Result{Status: Pass, Detail: setting.Plain("allowed on the bastion and " + PortForwardingDocument)}
	})
	r.run(bastionChecks[6][0], bastionChecks[6][1], func() Result {
		return checkSecurityGroups(ctx, cfg, found.Instance, t)
	})
}

// checkHardening warns of what a Session Manager bastion never needs: a key
// pair, a public IP, and the instance metadata service without tokens.
func checkHardening(inst ec2types.Instance, id string) Result {
	var found, fixes []string
	if k := aws.ToString(inst.KeyName); k != "" {
		found = append(found, "key pair "+k)
		fixes = append(fixes, "replace it with an instance without a key pair (Session Manager needs none; rdsgate bastion create builds one)")
	}
	if ip := aws.ToString(inst.PublicIpAddress); ip != "" {
		found = append(found, "public IP "+ip)
		fixes = append(fixes, "move it to a private subnet without a public IP (it needs only outbound 443)")
	}
	if inst.MetadataOptions == nil || inst.MetadataOptions.HttpTokens != ec2types.HttpTokensStateRequired {
		found = append(found, "IMDSv1 allowed")
		fixes = append(fixes, "aws ec2 modify-instance-metadata-options --instance-id "+id+" --http-tokens required --http-put-response-hop-limit 1")
	}
	if len(found) == 0 {
		return Result{Status: Pass, Detail: setting.Plain("no key pair, no public IP, IMDSv2 required")}
	}
	return Result{Status: Warn, Detail: setting.Plain(id + " has " + strings.Join(found, ", ")), Fix: setting.Plain(strings.Join(fixes, "\n"))}
}

// handProfile names the role and profile the fixes build for a bastion
// rdsgate did not create (rdsgate-bastion-VPC is the name of its own,
// which it refuses to adopt untagged).
const handProfile = "ssm-bastion"

// unlessOnline is a gap's status: a failure, but only a warning when the
// agent is online all the same, which proves that something this check
// cannot see carries it (Default Host Management Configuration, an inline
// policy, a proxy or a transit gateway).
func unlessOnline(online bool) Status {
	if online {
		return Warn
	}
	return Fail
}

// checkProfile checks that the instance's role holds the SSM core policy,
// and nothing else.
func checkProfile(h *bastion.Host, online bool) Result {
	id := aws.ToString(h.Instance.InstanceId)
	seen := ""
	if online {
		seen = "; its agent is online all the same, so something else gives it credentials (Default Host Management Configuration, or an inline policy)"
	}
	attach := "aws iam attach-role-policy --role-name %s --policy-arn " + bastion.SSMCorePolicyARN
	switch {
	case h.ProfileErr != nil:
		return Result{Status: Skip, Detail: setting.Textf("could not check: %v", h.ProfileErr),
			Fix: setting.Plain("to check it, allow iam:GetInstanceProfile and iam:ListAttachedRolePolicies")}
	case h.Instance.IamInstanceProfile == nil:
		return Result{Status: unlessOnline(online), Detail: setting.Textf("%s has no instance profile%s", id, seen), Fix: setting.Plain(strings.Join([]string{
			"give it a role with only AmazonSSMManagedInstanceCore (rdsgate bastion create builds its own bastion with one):",
			"aws iam create-role --role-name " + handProfile + " --assume-role-policy-document '" + bastion.Design{}.TrustPolicy() + "'",
			fmt.Sprintf(attach, handProfile),
			"aws iam create-instance-profile --instance-profile-name " + handProfile,
			fmt.Sprintf("aws iam add-role-to-instance-profile --instance-profile-name %s --role-name %s", handProfile, handProfile),
			"aws ec2 associate-iam-instance-profile --instance-id " + id + " --iam-instance-profile Name=" + handProfile}, "\n"))}
	}
	if h.Profile == nil {
		arn := aws.ToString(h.Instance.IamInstanceProfile.Arn)
		return Result{Status: unlessOnline(online), Detail: setting.Textf("%s names instance profile %s, which IAM no longer holds%s", id, arn, seen),
			Fix: setting.Textf("give it a profile that exists: aws ec2 replace-iam-instance-profile-association --association-id ASSOCIATION --iam-instance-profile Name=PROFILE (aws ec2 describe-iam-instance-profile-associations --filters Name=instance-id,Values=%s names ASSOCIATION)", id)}
	}
	profile := aws.ToString(h.Profile.InstanceProfileName)
	switch {
	case h.Role == "":
		return Result{Status: unlessOnline(online), Detail: setting.Textf("instance profile %s has no role%s", profile, seen),
			Fix: setting.Textf("aws iam add-role-to-instance-profile --instance-profile-name %s --role-name ROLE (a role trusted by ec2.amazonaws.com with AmazonSSMManagedInstanceCore)", profile)}
	case !h.SSMCore():
		return Result{Status: unlessOnline(online), Detail: setting.Textf("role %s (instance profile %s) lacks AmazonSSMManagedInstanceCore%s", h.Role, profile, seen),
			Fix: setting.Textf(attach, h.Role)}
	}
	var extra []string
	for _, p := range h.RolePolicies {
		if p != bastion.SSMCorePolicyARN {
			extra = append(extra, p)
		}
	}
	if len(extra) > 0 {
		// Whoever gets onto the bastion gets the role: keep it to what
		// the agent needs.
		var fixes []string
		for _, p := range extra {
			fixes = append(fixes, fmt.Sprintf("aws iam detach-role-policy --role-name %s --policy-arn %s", h.Role, p))
		}
		return Result{Status: Warn, Detail: setting.Textf("role %s holds AmazonSSMManagedInstanceCore and also %s: a bastion needs only the first", h.Role, strings.Join(extra, ", ")),
			Fix: setting.Plain(strings.Join(fixes, "\n"))}
	}
	return Result{Status: Pass, Detail: setting.Textf("instance profile %s, role %s with only AmazonSSMManagedInstanceCore", profile, h.Role)}
}

// checkSSMNetwork checks that the agent has a way to Systems Manager: a
// NAT route from its subnet, or the three interface endpoints (whoever
// made them) with private DNS and a group that admits it on 443.
func checkSSMNetwork(h *bastion.Host, region string, online bool) Result {
	id, subnet, vpc := aws.ToString(h.Instance.InstanceId), aws.ToString(h.Instance.SubnetId), aws.ToString(h.Instance.VpcId)
	if h.Route == bastion.RouteNAT {
		return Result{Status: Pass, Detail: setting.Textf("subnet %s routes 0.0.0.0/0 to NAT gateway %s", subnet, h.Gateway)}
	}
	gaps := h.EndpointGaps()
	if len(gaps) == 0 {
		var eps []string
		for _, short := range bastion.EndpointServices {
			e := h.Endpoints[short]
			by := "not rdsgate's"
			for _, tag := range e.Tags {
				if aws.ToString(tag.Key) == bastion.TagKey {
					by = "rdsgate's"
				}
			}
			eps = append(eps, fmt.Sprintf("%s %s (%s)", short, aws.ToString(e.VpcEndpointId), by))
		}
		return Result{Status: Pass, Detail: setting.Plain("interface endpoints with private DNS: " + strings.Join(eps, ", "))}
	}
	if h.Route == bastion.RouteInternet && aws.ToString(h.Instance.PublicIpAddress) != "" {
		return Result{Status: Warn, Detail: setting.Textf("%s reaches Systems Manager through internet gateway %s with its public IP", id, h.Gateway),
			Fix: setting.Plain("move it to a private subnet with a NAT route, or one with the ssm, ssmmessages and ec2messages endpoints (rdsgate bastion create builds either)")}
	}
	var problems []string
	fixes := []string{}
	missing := false
	for _, g := range gaps {
		problems = append(problems, g.Service+" "+g.Problem)
		switch g.Problem {
		case bastion.EndpointMissing:
			missing = true
			fixes = append(fixes, fmt.Sprintf("aws ec2 create-vpc-endpoint --vpc-id %s --vpc-endpoint-type Interface --service-name com.amazonaws.%s.%s --subnet-ids %s --security-group-ids ENDPOINT_SG --private-dns-enabled",
				vpc, region, g.Service, subnet))
		case bastion.EndpointUnavailable:
			fixes = append(fixes, fmt.Sprintf("endpoint %s is not available: wait for it, or delete and create it again", g.Endpoint))
		case bastion.EndpointNoDNS:
			fixes = append(fixes, fmt.Sprintf("aws ec2 modify-vpc-endpoint --vpc-endpoint-id %s --private-dns-enabled", g.Endpoint))
		case bastion.EndpointClosed:
			for _, sg := range g.Groups {
				for _, mine := range h.GroupIDs() {
					fixes = append(fixes, fmt.Sprintf("aws ec2 authorize-security-group-ingress --group-id %s --protocol tcp --port 443 --source-group %s", sg, mine))
				}
			}
		}
	}
	if missing {
		fixes = append([]string{fmt.Sprintf("give subnet %s a NAT route, or create the endpoints (ENDPOINT_SG: a group admitting tcp 443 from %s):", subnet, strings.Join(h.GroupIDs(), ", "))}, fixes...)
	}
	detail := fmt.Sprintf("subnet %s has no NAT route and the endpoints do not serve %s: %s", subnet, id, strings.Join(problems, ", "))
	if online {
		detail += "; its agent is online all the same, so something else carries it (a proxy, a transit gateway)"
	}
	return Result{Status: unlessOnline(online), Detail: setting.Plain(detail), Fix: setting.Plain(strings.Join(fixes, "\n"))}
}

// checkEgress checks that the instance's groups let it out to the
// database's port and to Systems Manager on 443.
func checkEgress(h *bastion.Host, t target.Target, online bool) Result {
	groups := h.GroupIDs()
	if len(groups) == 0 {
		return Result{Status: Skip, Detail: setting.Plain("the bastion reports no security group")}
	}
	mine := groups[0]
	var found, gaps, fixes []string
	status := Pass
	switch rule, ok := h.ReachesDB(t); {
	case len(t.SecurityGroups) == 0:
		found = append(found, "the database's groups are unknown")
	case ok:
		found = append(found, rule)
	default:
		status = Fail
		gaps = append(gaps, fmt.Sprintf("no egress to %s on port %d", strings.Join(t.SecurityGroups, ", "), t.Port))
		fixes = append(fixes, fmt.Sprintf("aws ec2 authorize-security-group-egress --group-id %s --ip-permissions 'IpProtocol=tcp,FromPort=%d,ToPort=%d,UserIdGroupPairs=[{GroupId=%s}]'",
			mine, t.Port, t.Port, t.SecurityGroups[0]))
	}
	if rule, ok := h.ReachesSystemsManager(); ok {
		found = append(found, rule)
	} else {
		// An online agent proves a way out this check cannot see (a
		// prefix list, a proxy): then it only warns.
		if !online {
			status = Fail
		} else if status == Pass {
			status = Warn
		}
		peer := "IpRanges=[{CidrIp=0.0.0.0/0}]"
		if h.Route == bastion.RouteNone {
			for _, short := range bastion.EndpointServices {
				if e, ok := h.Endpoints[short]; ok && len(e.Groups) > 0 {
					peer = "UserIdGroupPairs=[{GroupId=" + aws.ToString(e.Groups[0].GroupId) + "}]"
					break
				}
			}
		}
		gaps = append(gaps, "no egress on 443 to Systems Manager")
		fixes = append(fixes, fmt.Sprintf("aws ec2 authorize-security-group-egress --group-id %s --ip-permissions 'IpProtocol=tcp,FromPort=443,ToPort=443,%s'", mine, peer))
	}
	if len(gaps) == 0 {
		return Result{Status: Pass, Detail: setting.Plain(strings.Join(found, "; "))}
	}
	return Result{Status: status, Detail: setting.Textf("%s (%s) has %s", aws.ToString(h.Instance.InstanceId), strings.Join(groups, ", "), strings.Join(gaps, " and ")),
		Fix: setting.Plain(strings.Join(fixes, "\n"))}
}

func checkSecurityGroups(ctx context.Context, cfg aws.Config, bastion ec2types.Instance, t target.Target) Result {
	if len(t.SecurityGroups) == 0 {
		return Result{Status: Skip, Detail: setting.Plain("the database's security groups are unknown")}
	}
	out, err := ec2.NewFromConfig(cfg).DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: t.SecurityGroups})
	if err != nil {
		return failure(err)
	}
	bastionGroups := map[string]bool{}
	for _, g := range bastion.SecurityGroups {
		bastionGroups[aws.ToString(g.GroupId)] = true
	}
	ip := net.ParseIP(aws.ToString(bastion.PrivateIpAddress))
	for _, g := range out.SecurityGroups {
		for _, p := range g.IpPermissions {
			proto := aws.ToString(p.IpProtocol)
			if proto != "-1" && (proto != "tcp" || int(aws.ToInt32(p.FromPort)) > t.Port || int(aws.ToInt32(p.ToPort)) < t.Port) {
				continue
			}
			for _, pair := range p.UserIdGroupPairs {
				if bastionGroups[aws.ToString(pair.GroupId)] {
					return Result{Status: Pass, Detail: setting.Textf("%s admits %s on port %d", aws.ToString(g.GroupId), aws.ToString(pair.GroupId), t.Port)}
				}
			}
			for _, r := range p.IpRanges {
				if _, n, err := net.ParseCIDR(aws.ToString(r.CidrIp)); err == nil && ip != nil && n.Contains(ip) {
					return Result{Status: Pass, Detail: setting.Textf("%s admits %s on port %d", aws.ToString(g.GroupId), aws.ToString(r.CidrIp), t.Port)}
				}
			}
		}
	}
	var bg string
	for g := range bastionGroups {
		bg = g
		break
	}
	return Result{Status: Fail, Detail: setting.Textf("no rule in %s admits the bastion (%s, %s) on port %d", strings.Join(t.SecurityGroups, ", "), aws.ToString(bastion.InstanceId), bg, t.Port),
		Fix: setting.Textf("aws ec2 authorize-security-group-ingress --group-id %s --protocol tcp --port %d --source-group %s", t.SecurityGroups[0], t.Port, bg)}
}
