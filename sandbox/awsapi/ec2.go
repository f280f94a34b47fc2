package awsapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/sandbox/iampolicy"
	"github.com/rdsgate/rdsgate/sandbox/world"
)

// ec2Meta is the requestId every EC2 answer starts with.
type ec2Meta struct {
	RequestID string `xml:"requestId"`
}

func (m *ec2Meta) setRequestID(id string) { m.RequestID = id }

type ec2Response interface{ setRequestID(string) }

// writeEC2 answers an ec2Query call: <ActionResponse xmlns=...><requestId>
// and the fields, without a Result wrapper.
func (s *Server) writeEC2(w http.ResponseWriter, c *call, out any) {
	if r, ok := out.(ec2Response); ok {
		r.setRequestID(c.reqID)
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	err := enc.EncodeElement(out, xml.StartElement{Name: xml.Name{Local: c.action + "Response"}, Attr: xmlns(c.svc.xmlns)})
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		s.fail(w, c, internalError(err))
		return
	}
	s.commonHeaders(w, c, "text/xml;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

type ec2ErrorResponse struct {
	XMLName   xml.Name   `xml:"Response"`
	Errors    []ec2Error `xml:"Errors>Error"`
	RequestID string     `xml:"RequestID"`
}

type ec2Error struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func (s *Server) writeEC2Error(w http.ResponseWriter, c *call, e *apiError) {
	body, err := xml.Marshal(ec2ErrorResponse{Errors: []ec2Error{{Code: e.Code, Message: e.Message}}, RequestID: c.reqID})
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	s.commonHeaders(w, c, "text/xml;charset=UTF-8")
	w.WriteHeader(e.Status)
	_, _ = w.Write(append([]byte(xml.Header), body...))
}

type describeInstancesResponse struct {
	ec2Meta
	Reservations []reservationXML `xml:"reservationSet>item"`
	NextToken    string           `xml:"nextToken,omitempty"`
}

type reservationXML struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Instances     []instanceXML `xml:"instancesSet>item"`
}

type instanceXML struct {
	InstanceID    string `xml:"instanceId"`
	ImageID       string `xml:"imageId"`
	InstanceState struct {
		Code int    `xml:"code"`
		Name string `xml:"name"`
	} `xml:"instanceState"`
	PrivateDNSName string `xml:"privateDnsName"`
	InstanceType   string `xml:"instanceType"`
	LaunchTime     string `xml:"launchTime"`
	Placement      struct {
		AvailabilityZone string `xml:"availabilityZone"`
		Tenancy          string `xml:"tenancy"`
	} `xml:"placement"`
	Monitoring struct {
		State string `xml:"state"`
	} `xml:"monitoring"`
	SubnetID           string           `xml:"subnetId,omitempty"`
	VpcID              string           `xml:"vpcId,omitempty"`
	PrivateIPAddress   string           `xml:"privateIpAddress,omitempty"`
	Architecture       string           `xml:"architecture"`
	RootDeviceType     string           `xml:"rootDeviceType"`
	RootDeviceName     string           `xml:"rootDeviceName"`
	Groups             []groupIdentXML  `xml:"groupSet>item"`
	Tags               []tagXML         `xml:"tagSet>item"`
	IamInstanceProfile *instanceProfXML `xml:"iamInstanceProfile,omitempty"`
	KeyName            string           `xml:"keyName,omitempty"`
	PublicIPAddress    string           `xml:"ipAddress,omitempty"`
	VirtualizationType string           `xml:"virtualizationType"`
	Hypervisor         string           `xml:"hypervisor"`
	PlatformDetails    string           `xml:"platformDetails"`
	MetadataOptions    *metadataOptsXML `xml:"metadataOptions,omitempty"`
}

type groupIdentXML struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type tagXML struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type instanceProfXML struct {
	Arn string `xml:"arn"`
	ID  string `xml:"id"`
}

type metadataOptsXML struct {
	State        string `xml:"state"`
	HTTPTokens   string `xml:"httpTokens"`
	HTTPEndpoint string `xml:"httpEndpoint"`
	HopLimit     int    `xml:"httpPutResponseHopLimit,omitempty"`
}

// stateCodes are EC2's numeric instance state codes.
var stateCodes = map[string]int{world.StatePending: 0, world.StateRunning: 16, world.StateShuttingDown: 32,
	world.StateTerminated: 48, world.StateStopping: 64, world.StateStopped: 80}

// ec2Filter is one Filter.N: a name and the values it accepts (with * and ?
// wildcards, as EC2 allows).
type ec2Filter struct {
	Name   string
	Values []string
}

// ec2Filters reads Filter.N.Name / Filter.N.Value.M, refusing names for
// which known returns false.
func ec2Filters(p url.Values, known func(string) bool) ([]ec2Filter, *apiError) {
	var out []ec2Filter
	for _, f := range structs(p, "Filter") {
		name := f.Get("Name")
		if !known(name) {
			return nil, clientError("InvalidParameterValue", "The filter '%s' is invalid", shorten(name))
		}
		out = append(out, ec2Filter{Name: name, Values: members(f, "Value")})
	}
	return out, nil
}

// matchesAny reports whether v matches one of patterns, with EC2's filter
// wildcards (* and ?).
func matchesAny(patterns []string, vals ...string) bool {
	for _, p := range patterns {
		for _, v := range vals {
			if iampolicy.Match(p, v) {
				return true
			}
		}
	}
	return false
}

// ec2DryRun answers DryRun=true the way EC2 does once authorization passed.
func ec2DryRun(p url.Values) *apiError {
	if strings.EqualFold(p.Get("DryRun"), "true") {
		return &apiError{Status: http.StatusPreconditionFailed, Code: "DryRunOperation",
			Message: "Request would have succeeded, but DryRun flag is set.", reason: "dry run"}
	}
	return nil
}

// ec2MaxResults reads MaxResults and NextToken (EC2 allows 5..1000).
func ec2MaxResults(p url.Values, min, max int) (limit, offset int, e *apiError) {
	limit = max
	if v := p.Get("MaxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			return 0, 0, clientError("InvalidParameterValue", "Value ( %s ) for parameter maxResults is invalid. Expecting a value between %d and %d.", shorten(v), min, max)
		}
		limit = n
	}
	if t := p.Get("NextToken"); t != "" {
		n, ok := decodeMarker(t)
		if !ok {
			return 0, 0, clientError("InvalidParameterValue", "The token '%s' is invalid.", shorten(t))
		}
		offset = n
	}
	return limit, offset, nil
}

// describeInstances answers EC2 DescribeInstances with the sandbox's
// bastions: InstanceId.N and the filters instance-id, instance-state-name,
// tag:KEY, tag-key, tag-value, vpc-id, subnet-id, availability-zone,
// private-ip-address and instance.group-id.
func (s *Server) describeInstances(c *call) (any, *apiError) {
	p := c.params
	if e := s.authorize(c, "ec2:DescribeInstances", "*", nil); e != nil {
		return nil, e
	}
	if e := ec2DryRun(p); e != nil {
		return nil, e
	}
	ids := members(p, "InstanceId")
	for _, id := range ids {
		if !strings.HasPrefix(id, "i-") || len(id) < 3 {
			return nil, clientError("InvalidInstanceID.Malformed", "Invalid id: %q", shorten(id))
		}
	}
	if len(ids) > 0 && p.Get("MaxResults") != "" {
		return nil, clientError("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	limit, offset, e := ec2MaxResults(p, 5, 1000)
	if e != nil {
		return nil, e
	}
	filters, e := ec2Filters(p, func(n string) bool {
		switch n {
		case "instance-id", "instance-state-name", "tag-key", "tag-value", "vpc-id", "subnet-id",
			"availability-zone", "private-ip-address", "instance.group-id", "instance.group-name":
			return true
		}
		return strings.HasPrefix(n, "tag:") && len(n) > 4
	})
	if e != nil {
		return nil, e
	}
	var out *describeInstancesResponse
	var missing []string
	now := s.now()
	s.world.View(func() {
		for _, id := range ids {
			if _, ok := s.world.Bastion(id); !ok {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			return
		}
		var list []*world.Bastion
		for i := range s.world.Bastions {
			b := &s.world.Bastions[i]
			if len(ids) > 0 && !slices.Contains(ids, b.InstanceID) {
				continue
			}
			if s.bastionMatches(b, filters, now) {
				list = append(list, b)
			}
		}
		out = &describeInstancesResponse{}
		for i := offset; i < len(list) && i < offset+limit; i++ {
			out.Reservations = append(out.Reservations, reservationXML{
				ReservationID: "r-" + shortHash(list[i].InstanceID),
				OwnerID:       s.world.Account,
				Instances:     []instanceXML{s.instanceXML(list[i], now)},
			})
		}
		if offset+limit < len(list) {
			out.NextToken = encodeMarker(offset + limit)
		}
	})
	switch {
	case len(missing) == 1:
		return nil, clientError("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", shorten(missing[0]))
	case len(missing) > 1:
		return nil, clientError("InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", shorten(strings.Join(missing, ", ")))
	}
	return out, nil
}

// instanceXML describes b at now. The caller holds the world's lock.
func (s *Server) instanceXML(b *world.Bastion, now time.Time) instanceXML {
	x := instanceXML{
		InstanceID:         b.InstanceID,
		ImageID:            "ami-0sandbox00000001",
		PrivateDNSName:     privateDNSName(b.PrivateIP, s.world.Region),
		InstanceType:       "t3.micro",
		LaunchTime:         xmlTime(s.epoch()),
		SubnetID:           b.Subnet,
		VpcID:              b.VPC,
		PrivateIPAddress:   b.PrivateIP,
		Architecture:       "x86_64",
		RootDeviceType:     "ebs",
		RootDeviceName:     "/dev/xvda",
		VirtualizationType: "hvm",
		Hypervisor:         "xen",
		PlatformDetails:    "Linux/UNIX",
		MetadataOptions:    &metadataOptsXML{State: "applied", HTTPTokens: "required", HTTPEndpoint: "enabled"},
	}
	state := b.StateAt(now)
	x.InstanceState.Code, x.InstanceState.Name = stateCodes[state], state
	// The built-in bastion is hardened unless a test says otherwise.
	x.KeyName, x.PublicIPAddress = b.KeyName, b.PublicIP
	if b.HTTPTokens != "" {
		x.MetadataOptions.HTTPTokens = b.HTTPTokens
	}
	if b.Launched {
		x.ImageID, x.InstanceType, x.Architecture = b.ImageID, b.InstanceType, b.Architecture
		x.LaunchTime = xmlTime(b.LaunchTime)
		x.KeyName, x.PublicIPAddress = b.KeyName, b.PublicIP
		x.MetadataOptions = &metadataOptsXML{State: "applied", HTTPTokens: b.HTTPTokens, HTTPEndpoint: "enabled", HopLimit: b.HopLimit}
		if state == world.StateTerminated {
			x.PrivateIPAddress, x.PrivateDNSName = "", ""
		}
	}
	// Only a profile IAM holds is reported, so that a reader who follows
	// it (doctor) finds what the agent would get; the built-in bastion's
	// agent registers without one.
	if b.InstanceProfile != "" {
		p, ok := s.world.InstanceProfile(b.InstanceProfile)
		id := ""
		if ok {
			id = p.ID
		}
		x.IamInstanceProfile = &instanceProfXML{Arn: "arn:aws:iam::" + s.world.Account + ":instance-profile/" + b.InstanceProfile, ID: id}
	}
	x.Placement.AvailabilityZone = or(b.AvailabilityZone, s.world.Region+"a")
	x.Placement.Tenancy = "default"
	x.Monitoring.State = "disabled"
	for _, g := range b.SecurityGroups {
		name := g
		if sg, ok := s.world.SecurityGroup(g); ok {
			name = sg.Name
		}
		x.Groups = append(x.Groups, groupIdentXML{GroupID: g, GroupName: name})
	}
	for _, k := range sortedKeys(b.Tags) {
		x.Tags = append(x.Tags, tagXML{Key: k, Value: b.Tags[k]})
	}
	return x
}

// bastionMatches applies the filters to b at now. The caller holds the
// world's lock.
func (s *Server) bastionMatches(b *world.Bastion, filters []ec2Filter, now time.Time) bool {
	for _, f := range filters {
		var vals []string
		switch f.Name {
		case "instance-id":
			vals = []string{b.InstanceID}
		case "instance-state-name":
			vals = []string{b.StateAt(now)}
		case "tag-key":
			vals = sortedKeys(b.Tags)
		case "tag-value":
			for _, k := range sortedKeys(b.Tags) {
				vals = append(vals, b.Tags[k])
			}
		case "vpc-id":
			vals = []string{b.VPC}
		case "subnet-id":
			vals = []string{b.Subnet}
		case "availability-zone":
			vals = []string{or(b.AvailabilityZone, s.world.Region+"a")}
		case "private-ip-address":
			vals = []string{b.PrivateIP}
		case "instance.group-id":
			vals = b.SecurityGroups
		case "instance.group-name":
			for _, g := range b.SecurityGroups {
				if sg, ok := s.world.SecurityGroup(g); ok {
					vals = append(vals, sg.Name)
				}
			}
		default: // tag:KEY
			if v, ok := b.Tags[strings.TrimPrefix(f.Name, "tag:")]; ok {
				vals = []string{v}
			}
		}
		if !matchesAny(f.Values, vals...) {
			return false
		}
	}
	return true
}

type describeSecurityGroupsResponse struct {
	ec2Meta
	SecurityGroups []securityGroupXML `xml:"securityGroupInfo>item"`
	NextToken      string             `xml:"nextToken,omitempty"`
}

type securityGroupXML struct {
	OwnerID             string            `xml:"ownerId"`
	GroupID             string            `xml:"groupId"`
	GroupName           string            `xml:"groupName"`
	GroupDescription    string            `xml:"groupDescription"`
	VpcID               string            `xml:"vpcId,omitempty"`
	SecurityGroupArn    string            `xml:"securityGroupArn"`
	IPPermissions       []ipPermissionXML `xml:"ipPermissions>item"`
	IPPermissionsEgress []ipPermissionXML `xml:"ipPermissionsEgress>item"`
	Tags                []tagXML          `xml:"tagSet>item"`
}

type ipPermissionXML struct {
	IPProtocol string             `xml:"ipProtocol"`
	FromPort   *int               `xml:"fromPort,omitempty"`
	ToPort     *int               `xml:"toPort,omitempty"`
	Groups     []userIDGroupPairX `xml:"groups>item"`
	IPRanges   []ipRangeXML       `xml:"ipRanges>item"`
}

type userIDGroupPairX struct {
	UserID      string `xml:"userId"`
	GroupID     string `xml:"groupId"`
	Description string `xml:"description,omitempty"`
}

type ipRangeXML struct {
	CidrIP      string `xml:"cidrIp"`
	Description string `xml:"description,omitempty"`
}

// describeSecurityGroups answers EC2 DescribeSecurityGroups: GroupId.N,
// GroupName.N and the filters group-id, group-name, vpc-id, description,
// owner-id, ip-permission.group-id and ip-permission.cidr.
func (s *Server) describeSecurityGroups(c *call) (any, *apiError) {
	p := c.params
	if e := s.authorize(c, "ec2:DescribeSecurityGroups", "*", nil); e != nil {
		return nil, e
	}
	if e := ec2DryRun(p); e != nil {
		return nil, e
	}
	ids, names := members(p, "GroupId"), members(p, "GroupName")
	for _, id := range ids {
		if !strings.HasPrefix(id, "sg-") || len(id) < 4 {
			return nil, clientError("InvalidGroupId.Malformed", "Invalid id: %q (expecting \"sg-...\")", shorten(id))
		}
	}
	limit, offset, e := ec2MaxResults(p, 5, 1000)
	if e != nil {
		return nil, e
	}
	filters, e := ec2Filters(p, func(n string) bool {
		switch n {
		case "group-id", "group-name", "vpc-id", "description", "owner-id", "ip-permission.group-id", "ip-permission.cidr", "tag-key":
			return true
		}
		return strings.HasPrefix(n, "tag:") && len(n) > 4
	})
	if e != nil {
		return nil, e
	}
	var out *describeSecurityGroupsResponse
	var missing string
	s.world.View(func() {
		for _, id := range ids {
			if _, ok := s.world.SecurityGroup(id); !ok {
				missing = id
				return
			}
		}
		for _, n := range names {
			if !slices.ContainsFunc(s.world.SecurityGroups, func(g world.SecurityGroup) bool { return g.Name == n }) {
				missing = n
				return
			}
		}
		var list []*world.SecurityGroup
		for i := range s.world.SecurityGroups {
			g := &s.world.SecurityGroups[i]
			if len(ids) > 0 && !slices.Contains(ids, g.ID) || len(names) > 0 && !slices.Contains(names, g.Name) {
				continue
			}
			if s.groupMatches(g, filters) {
				list = append(list, g)
			}
		}
		out = &describeSecurityGroupsResponse{}
		for i := offset; i < len(list) && i < offset+limit; i++ {
			out.SecurityGroups = append(out.SecurityGroups, s.securityGroupXML(list[i]))
		}
		if offset+limit < len(list) {
			out.NextToken = encodeMarker(offset + limit)
		}
	})
	if missing != "" {
		return nil, clientError("InvalidGroup.NotFound", "The security group '%s' does not exist", shorten(missing))
	}
	return out, nil
}

func (s *Server) securityGroupXML(g *world.SecurityGroup) securityGroupXML {
	x := securityGroupXML{
		OwnerID:          s.world.Account,
		GroupID:          g.ID,
		GroupName:        g.Name,
		GroupDescription: g.Description,
		VpcID:            g.VPC,
		SecurityGroupArn: s.arn("ec2", "security-group/"+g.ID),
		IPPermissions:    s.permissionsXML(g.Ingress),
		// An empty set is <ipPermissionsEgress/>, not absent.
		IPPermissionsEgress: s.permissionsXML(g.Egress),
	}
	for _, k := range sortedKeys(g.Tags) {
		x.Tags = append(x.Tags, tagXML{Key: k, Value: g.Tags[k]})
	}
	return x
}

// permissionsXML renders rules as EC2 does: the rules with the same
// protocol and ports form one permission.
func (s *Server) permissionsXML(rules []world.Rule) []ipPermissionXML {
	var out []ipPermissionXML
	for _, r := range rules {
		proto := or(r.Protocol, "tcp")
		i := slices.IndexFunc(out, func(p ipPermissionXML) bool {
			return p.IPProtocol == proto && (proto == "-1" || *p.FromPort == r.FromPort && *p.ToPort == r.ToPort)
		})
		if i < 0 {
			perm := ipPermissionXML{IPProtocol: proto}
			if proto != "-1" {
				from, to := r.FromPort, r.ToPort
				perm.FromPort, perm.ToPort = &from, &to
			}
			out = append(out, perm)
			i = len(out) - 1
		}
		for _, sg := range r.SourceGroups {
			out[i].Groups = append(out[i].Groups, userIDGroupPairX{UserID: s.world.Account, GroupID: sg, Description: r.Description})
		}
		for _, cidr := range r.CIDRs {
			out[i].IPRanges = append(out[i].IPRanges, ipRangeXML{CidrIP: cidr, Description: r.Description})
		}
	}
	return out
}

func (s *Server) groupMatches(g *world.SecurityGroup, filters []ec2Filter) bool {
	for _, f := range filters {
		var vals []string
		switch f.Name {
		case "group-id":
			vals = []string{g.ID}
		case "group-name":
			vals = []string{g.Name}
		case "vpc-id":
			vals = []string{g.VPC}
		case "description":
			vals = []string{g.Description}
		case "owner-id":
			vals = []string{s.world.Account}
		case "ip-permission.group-id":
			for _, r := range g.Ingress {
				vals = append(vals, r.SourceGroups...)
			}
		case "ip-permission.cidr":
			for _, r := range g.Ingress {
				vals = append(vals, r.CIDRs...)
			}
		case "tag-key":
			vals = sortedKeys(g.Tags)
		default: // tag:KEY
			if v, ok := g.Tags[strings.TrimPrefix(f.Name, "tag:")]; ok {
				vals = []string{v}
			}
		}
		if !matchesAny(f.Values, vals...) {
			return false
		}
	}
	return true
}

// privateDNSName is EC2's internal name for a private address.
func privateDNSName(ip, region string) string {
	if ip == "" {
		return ""
	}
	suffix := region + ".compute.internal"
	if region == "us-east-1" {
		suffix = "ec2.internal"
	}
	return "ip-" + strings.ReplaceAll(ip, ".", "-") + "." + suffix
}

// shortHash is 17 hex digits derived from s, for stable made-up ids.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:17]
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
