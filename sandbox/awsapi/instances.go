package awsapi

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/rdsgate/rdsgate/sandbox/world"
)

// The EC2 instance writes: RunInstances launches an instance with a
// simulated boot (pending, then running after the server's Transition),
// Start/Stop/TerminateInstances move it along EC2's states with the same
// delay. A launched instance is a Session Manager target as the sandbox's
// own bastion is, once its agent can register (world.AgentOnline).

type runInstancesResponse struct {
	ec2Meta
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Instances     []instanceXML `xml:"instancesSet>item"`
}

// maxLaunch bounds MaxCount in the sandbox.
const maxLaunch = 5

// runInstances answers EC2 RunInstances: ImageId (a public Amazon Linux
// image of the world's parameters), InstanceType (its architecture must
// be the image's), the subnet and groups (SubnetId and SecurityGroupId.N,
// or NetworkInterface.1), IamInstanceProfile (Name or Arn; iam:PassRole on
// its role is asked for), MetadataOptions, KeyName (the sandbox has no key
// pairs), tags for the instance and its volume, and MaxCount.
func (s *Server) runInstances(c *call) (any, *apiError) {
	p := c.params
	image, itype := p.Get("ImageId"), p.Get("InstanceType")
	if image == "" {
		return nil, missingParam(c.svc, "ImageId")
	}
	itype = or(itype, "m1.small")
	count := 1
	if v := p.Get("MaxCount"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLaunch {
			return nil, clientError("InvalidParameterValue", "MaxCount must be between 1 and %d in the sandbox", maxLaunch)
		}
		count = n
	}
	subnet, groups := p.Get("SubnetId"), members(p, "SecurityGroupId")
	publicIP := false
	if nis := structs(p, "NetworkInterface"); len(nis) > 0 {
		subnet, groups = nis[0].Get("SubnetId"), members(nis[0], "SecurityGroupId")
		publicIP = strings.EqualFold(nis[0].Get("AssociatePublicIpAddress"), "true")
	}
	if subnet == "" {
		return nil, clientError("MissingInput", "No subnets found for the default VPC. Please specify a subnet.")
	}
	tags, e := tagSpecs(p, "instance", "volume", "network-interface")
	if e != nil {
		return nil, e
	}
	arch := ""
	for name, v := range s.world.Parameters {
		if v == image {
			arch = name[strings.LastIndex(name, "-")+1:]
		}
	}
	if arch == "" {
		return nil, clientError("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", shorten(image))
	}
	if want := archOf(itype); want != arch {
		return nil, clientError("InvalidParameterValue", "The architecture '%s' of the specified instance type does not match the architecture '%s' of the specified AMI. Specify an instance type and an AMI that have matching architectures, and try again.", want, arch)
	}
	if key := p.Get("KeyName"); key != "" {
		return nil, clientError("InvalidKeyPair.NotFound", "The key pair '%s' does not exist", shorten(key))
	}
	tokens := or(p.Get("MetadataOptions.HttpTokens"), "optional")
	hops := 1
	if v := p.Get("MetadataOptions.HttpPutResponseHopLimit"); v != "" {
		if hops, _ = strconv.Atoi(v); hops < 1 || hops > 64 {
			return nil, clientError("InvalidParameterValue", "The HTTP PUT response hop limit must be between 1 and 64")
		}
	}
	profName := p.Get("IamInstanceProfile.Name")
	if a := p.Get("IamInstanceProfile.Arn"); a != "" {
		profName = a[strings.LastIndex(a, "/")+1:]
	}
	ids := make([]string, count)
	for i := range ids {
		ids[i] = "i-" + randomHex(17)
	}
	// EC2 asks for RunInstances on each resource the launch creates or
	// uses: the instance with its metadata setting, the volume, the
	// network interface, the subnet, the groups and the image, whose owner
	// (the public Amazon Linux images are amazon's) a policy may name.
	if e := s.authorizeCreateWith(c, "ec2:RunInstances", s.arn("ec2", "instance/*"), tags["instance"], map[string]string{"ec2:MetadataHttpTokens": tokens}); e != nil {
		return nil, e
	}
	if e := s.authorizeCreate(c, "ec2:RunInstances", s.arn("ec2", "volume/*"), tags["volume"]); e != nil {
		return nil, e
	}
	used := map[string]map[string]string{s.arn("ec2", "network-interface/*"): nil, s.arn("ec2", "subnet/"+subnet): nil,
		"arn:aws:ec2:" + s.world.Region + "::image/" + image: {"ec2:Owner": "amazon"}}
	for _, g := range groups {
		used[s.arn("ec2", "security-group/"+g)] = s.groupTags(g)
	}
	if e := s.authorizeUse(c, "ec2:RunInstances", used); e != nil {
		return nil, e
	}
	// The rest is checked against the world as it is now.
	var role string
	s.world.View(func() {
		sn, ok := s.world.Subnet(subnet)
		if !ok {
			e = clientError("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", shorten(subnet))
			return
		}
		for _, g := range groups {
			if sg, ok := s.world.SecurityGroup(g); !ok || sg.VPC != sn.VPC {
				e = clientError("InvalidGroup.NotFound", "The security group '%s' does not exist in VPC '%s'", shorten(g), sn.VPC)
				return
			}
		}
		if profName != "" {
			prof, ok := s.world.InstanceProfile(profName)
			if !ok {
				e = clientError("InvalidParameterValue", "Value (%s) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name", shorten(profName))
				return
			}
			if len(prof.Roles) > 0 {
				role = prof.Roles[0]
			}
		}
	})
	if e != nil {
		return nil, e
	}
	if role != "" {
		arn := "arn:aws:iam::" + s.world.Account + ":role/" + role
		if e := s.authorize(c, "iam:PassRole", arn, map[string]string{"iam:PassedToService": "ec2.amazonaws.com"}); e != nil {
			// EC2 answers in its own shape, naming iam:PassRole.
			e.Code, e.Status = "UnauthorizedOperation", http.StatusForbidden
			e.Message = fmt.Sprintf("You are not authorized to perform this operation. User: %s is not authorized to perform: iam:PassRole on resource: %s", c.principal.ARN, arn)
			return nil, e
		}
	}
	if e := ec2DryRun(p); e != nil {
		return nil, e
	}
	now := s.now().UTC()
	out := &runInstancesResponse{ReservationID: "r-" + randomHex(17), OwnerID: s.world.Account}
	s.world.Update(func() {
		sn, _ := s.world.Subnet(subnet)
		for i, id := range ids {
			b := world.Bastion{InstanceID: id, Name: tags["instance"]["Name"], VPC: sn.VPC, Subnet: subnet, AvailabilityZone: sn.AvailabilityZone,
				PrivateIP: s.freeAddress(sn), SecurityGroups: slices.Clone(groups), Tags: maps.Clone(tags["instance"]),
				Launched: true, ImageID: image, InstanceType: itype, Architecture: arch, InstanceProfile: profName,
				HTTPTokens: tokens, HopLimit: hops, LaunchTime: now, AgentVersion: "3.3.1957.0", PlatformName: "Amazon Linux"}
			if publicIP {
				b.PublicIP = fmt.Sprintf("54.%d.%d.%d", len(s.world.Bastions)%250, i%250, 10+len(s.world.Bastions)%200)
			}
			b.Transition(world.StatePending, world.StateRunning, now, s.transition)
			s.world.Bastions = append(s.world.Bastions, b)
			out.Instances = append(out.Instances, s.instanceXML(&s.world.Bastions[len(s.world.Bastions)-1], now))
		}
	})
	s.log.Info("ec2 instances launched", "instances", strings.Join(ids, ","), "subnet", subnet, "profile", profName, "principal", c.principal.ARN)
	return out, nil
}

// freeAddress is the first address from .20 of the subnet that no
// instance holds. The caller holds the world's lock.
func (s *Server) freeAddress(sn *world.Subnet) string {
	for n := 20; ; n++ {
		a := world.NthAddress(sn.CIDR, n)
		if a == "" || !slices.ContainsFunc(s.world.Bastions, func(b world.Bastion) bool { return b.PrivateIP == a }) {
			return a
		}
	}
}

// archOf is an instance type's architecture: Graviton families (t4g,
// m7g, c6gn) are arm64.
func archOf(instanceType string) string {
	family, _, _ := strings.Cut(instanceType, ".")
	if i := strings.IndexAny(family, "0123456789"); i >= 0 && strings.Contains(family[i:], "g") {
		return "arm64"
	}
	return "x86_64"
}

type stateXML struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type stateChangeXML struct {
	InstanceID    string   `xml:"instanceId"`
	CurrentState  stateXML `xml:"currentState"`
	PreviousState stateXML `xml:"previousState"`
}

type stateChangeResponse struct {
	ec2Meta
	Instances []stateChangeXML `xml:"instancesSet>item"`
}

func stateOf(name string) stateXML { return stateXML{Code: stateCodes[name], Name: name} }

// startInstances answers EC2 StartInstances: a stopped instance is
// pending, then running.
func (s *Server) startInstances(c *call) (any, *apiError) {
	return s.changeState(c, "ec2:StartInstances", func(b *world.Bastion, st string) (string, string, bool) {
		switch st {
		case world.StateStopped:
			return world.StatePending, world.StateRunning, true
		case world.StatePending, world.StateRunning:
			return st, "", true
		}
		return "", "", false
	})
}

// stopInstances answers EC2 StopInstances: a running instance is
// stopping, then stopped.
func (s *Server) stopInstances(c *call) (any, *apiError) {
	return s.changeState(c, "ec2:StopInstances", func(b *world.Bastion, st string) (string, string, bool) {
		switch st {
		case world.StatePending, world.StateRunning:
			return world.StateStopping, world.StateStopped, true
		case world.StateStopping, world.StateStopped:
			return st, "", true
		}
		return "", "", false
	})
}

// terminateInstances answers EC2 TerminateInstances: shutting-down, then
// terminated (and described as such afterwards, as EC2 does for a while).
func (s *Server) terminateInstances(c *call) (any, *apiError) {
	return s.changeState(c, "ec2:TerminateInstances", func(b *world.Bastion, st string) (string, string, bool) {
		switch st {
		case world.StateShuttingDown, world.StateTerminated:
			return st, "", true
		}
		return world.StateShuttingDown, world.StateTerminated, true
	})
}

// changeState authorizes action on each InstanceId.N (with its tags) and
// moves each as next says: to a state now and another after the
// transition ("" when it stays), or not at all (IncorrectInstanceState).
func (s *Server) changeState(c *call, action string, next func(b *world.Bastion, st string) (now, later string, ok bool)) (any, *apiError) {
	ids := members(c.params, "InstanceId")
	if len(ids) == 0 {
		return nil, missingParam(c.svc, "InstanceIds")
	}
	for _, id := range ids {
		b, _, ok := s.instance(id)
		if !ok {
			return nil, clientError("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", shorten(id))
		}
		if e := s.authorize(c, action, s.arn("ec2", "instance/"+id), resourceTags(b.Tags)); e != nil {
			return nil, e
		}
	}
	if e := ec2DryRun(c.params); e != nil {
		return nil, e
	}
	now := s.now()
	out := &stateChangeResponse{}
	var e *apiError
	s.world.Update(func() {
		type move struct {
			b           *world.Bastion
			prev, to, l string
		}
		var moves []move
		for _, id := range ids {
			b, _ := s.world.Bastion(id)
			prev := b.StateAt(now)
			to, later, ok := next(b, prev)
			if !ok {
				e = clientError("IncorrectInstanceState", "The instance '%s' is not in a state from which it can be %s.", id, verbOf(action))
				return
			}
			moves = append(moves, move{b, prev, to, later})
		}
		for _, m := range moves {
			if m.to != m.prev {
				m.b.Transition(m.to, m.l, now, s.transition)
			}
			out.Instances = append(out.Instances, stateChangeXML{InstanceID: m.b.InstanceID, CurrentState: stateOf(m.b.StateAt(now)), PreviousState: stateOf(m.prev)})
		}
	})
	if e != nil {
		return nil, e
	}
	return out, nil
}

func verbOf(action string) string {
	switch action {
	case "ec2:StartInstances":
		return "started"
	case "ec2:StopInstances":
		return "stopped"
	}
	return "terminated"
}

// randomHex is n random hex digits, for new resource ids.
func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
