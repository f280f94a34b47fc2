package target

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/smithy-go"
)

// RDSAPI is the part of the RDS client the resolver uses.
type RDSAPI interface {
	DescribeDBInstances(context.Context, *rds.DescribeDBInstancesInput, ...func(*rds.Options)) (*rds.DescribeDBInstancesOutput, error)
	DescribeDBClusters(context.Context, *rds.DescribeDBClustersInput, ...func(*rds.Options)) (*rds.DescribeDBClustersOutput, error)
}

// Spec is what a config entry (or flags) says about a target.
type Spec struct {
	Name       string
	Identifier string
	Endpoint   string
	Port       int
	Engine     string
}

// Resolver turns names into Targets with one region's RDS API.
type Resolver struct {
	API    RDSAPI
	Region string
	// Named holds config entries by name; a name found here wins over an
	// identifier of the same name.
	Named map[string]Spec
}

// ErrNotFound matches (errors.Is) errors for names that match nothing.
var ErrNotFound = errors.New("target not found")

// notFound is a not-found error whose message is written for a person.
type notFound struct {
	msg string
	// region is where the API was asked ("" when not by identifier).
	region string
}

func (e notFound) Error() string        { return e.msg }
func (e notFound) Is(target error) bool { return target == ErrNotFound }

// NotFoundRegion is the region a name was looked up in when err says it
// matched no instance or cluster there, else "".
func NotFoundRegion(err error) string {
	var nf notFound
	if errors.As(err, &nf) {
		return nf.region
	}
	return ""
}

// Resolve finds the target called name.
func (r *Resolver) Resolve(ctx context.Context, name string) (Target, error) {
	if name == "" {
		return Target{}, errors.New("target: no target named: a config entry's name, an RDS identifier or an endpoint")
	}
	spec, named := r.Named[name]
	if !named {
		spec = Spec{Name: name}
		if strings.Contains(name, ".") {
			spec.Endpoint = name
		} else {
			spec.Identifier = name
		}
	}
	if spec.Name == "" {
		spec.Name = name
	}
	t, err := r.resolveSpec(ctx, spec)
	if err != nil {
		return Target{}, err
	}
	t.Name = spec.Name
	if spec.Port != 0 {
		t.Port = spec.Port
	}
	return t, nil
}

func (r *Resolver) resolveSpec(ctx context.Context, s Spec) (Target, error) {
	switch {
	case s.Identifier != "":
		return r.byIdentifier(ctx, s.Identifier)
	case s.Endpoint != "":
		return r.byEndpoint(ctx, s)
	}
	return Target{}, fmt.Errorf("target %q: its config entry needs identifier or endpoint", s.Name)
}

func (r *Resolver) byIdentifier(ctx context.Context, id string) (Target, error) {
	out, err := r.API.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
	if err == nil && len(out.DBInstances) > 0 {
		t := FromInstance(out.DBInstances[0], r.Region)
		if t.ClusterIdentifier != "" {
			// IAM policies for Aurora name the cluster's resource id, not the instance's.
			cout, err := r.API.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(t.ClusterIdentifier)})
			if err != nil {
				return Target{}, fmt.Errorf("describe DB cluster %q of instance %q: %w", t.ClusterIdentifier, id, err)
			}
			if len(cout.DBClusters) > 0 {
				c := FromCluster(cout.DBClusters[0], r.Region)
				t.ResourceID, t.IAMAuth = c.ResourceID, c.IAMAuth
			}
		}
		return t, nil
	}
	if err != nil && !isCode(err, "DBInstanceNotFound", "DBInstanceNotFoundFault") {
		return Target{}, fmt.Errorf("describe DB instance %q in %s: %w", id, r.Region, err)
	}
	cout, err := r.API.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(id)})
	if err == nil && len(cout.DBClusters) > 0 {
		return FromCluster(cout.DBClusters[0], r.Region), nil
	}
	if err != nil && !isCode(err, "DBClusterNotFoundFault", "DBClusterNotFound") {
		return Target{}, fmt.Errorf("describe DB cluster %q in %s: %w", id, r.Region, err)
	}
	return Target{}, notFound{msg: fmt.Sprintf("target: no DB instance or cluster %q in %s", id, r.Region), region: r.Region}
}

// byEndpoint looks the host up among the region's instances and clusters;
// when the API cannot say (no permission, another account), it returns what
// the user told us, as KindEndpoint.
func (r *Resolver) byEndpoint(ctx context.Context, s Spec) (Target, error) {
	host := strings.ToLower(strings.TrimSuffix(s.Endpoint, "."))
	all, listErr := List(ctx, r.API, r.Region)
	for _, t := range all {
		if strings.EqualFold(t.Host, host) {
			return t, nil
		}
		if t.Kind == KindCluster && strings.EqualFold(t.ReaderHost, host) {
			t.Host = t.ReaderHost
			return t, nil
		}
	}
	region := RegionFromHost(host)
	if region == "" {
		region = r.Region
	}
	engine, port := s.Engine, s.Port
	if port == 0 {
		port = DefaultPort(engine)
	}
	if engine == "" || port == 0 {
		msg := fmt.Sprintf("target: %s is not an RDS endpoint in %s", host, r.Region)
		if listErr != nil {
			msg = fmt.Sprintf("target: could not look %s up (%v)", host, listErr)
		}
		return Target{}, notFound{msg: msg + "; to use it anyway, give its engine and port in a config entry (engine:, port:)"}
	}
	return Target{Kind: KindEndpoint, Identifier: host, Engine: engine, Host: host, Port: port, Region: region, IAMAuth: true}, nil
}

// List returns every instance and cluster in region, instances first, each
// group in the API's order.
func List(ctx context.Context, api RDSAPI, region string) ([]Target, error) {
	var out []Target
	ip := rds.NewDescribeDBInstancesPaginator(api, &rds.DescribeDBInstancesInput{})
	for ip.HasMorePages() {
		page, err := ip.NextPage(ctx)
		if err != nil {
			return out, fmt.Errorf("list DB instances in %s: %w", region, err)
		}
		for _, db := range page.DBInstances {
			out = append(out, FromInstance(db, region))
		}
	}
	cp := rds.NewDescribeDBClustersPaginator(api, &rds.DescribeDBClustersInput{})
	for cp.HasMorePages() {
		page, err := cp.NextPage(ctx)
		if err != nil {
			return out, fmt.Errorf("list DB clusters in %s: %w", region, err)
		}
		for _, c := range page.DBClusters {
			out = append(out, FromCluster(c, region))
		}
	}
	// IAM policies for Aurora name the cluster's resource id, not the
	// instance's, and IAM authentication is a cluster setting.
	clusters := map[string]Target{}
	for _, t := range out {
		if t.Kind == KindCluster {
			clusters[t.Identifier] = t
		}
	}
	for i, t := range out {
		if c, ok := clusters[t.ClusterIdentifier]; ok && t.Kind == KindInstance {
			out[i].ResourceID, out[i].IAMAuth = c.ResourceID, c.IAMAuth
		}
	}
	return out, nil
}

// FromInstance converts the API's description of an instance.
func FromInstance(db types.DBInstance, region string) Target {
	t := Target{
		Kind:              KindInstance,
		Identifier:        aws.ToString(db.DBInstanceIdentifier),
		Engine:            aws.ToString(db.Engine),
		EngineVersion:     aws.ToString(db.EngineVersion),
		Region:            region,
		ResourceID:        aws.ToString(db.DbiResourceId),
		ClusterIdentifier: aws.ToString(db.DBClusterIdentifier),
		IAMAuth:           aws.ToBool(db.IAMDatabaseAuthenticationEnabled),
		Public:            aws.ToBool(db.PubliclyAccessible),
		Status:            aws.ToString(db.DBInstanceStatus),
		CAIdentifier:      aws.ToString(db.CACertificateIdentifier),
		MasterUser:        aws.ToString(db.MasterUsername),
	}
	if db.Endpoint != nil {
		t.Host = aws.ToString(db.Endpoint.Address)
		t.Port = int(aws.ToInt32(db.Endpoint.Port))
	}
	if t.Port == 0 && db.DbInstancePort != nil {
		t.Port = int(*db.DbInstancePort)
	}
	if db.DBSubnetGroup != nil {
		t.VPC = aws.ToString(db.DBSubnetGroup.VpcId)
		for _, s := range db.DBSubnetGroup.Subnets {
			t.Subnets = append(t.Subnets, aws.ToString(s.SubnetIdentifier))
		}
	}
	for _, sg := range db.VpcSecurityGroups {
		t.SecurityGroups = append(t.SecurityGroups, aws.ToString(sg.VpcSecurityGroupId))
	}
	if db.MasterUserSecret != nil {
		t.MasterSecretARN = aws.ToString(db.MasterUserSecret.SecretArn)
	}
	return t
}

// FromCluster converts the API's description of a cluster.
func FromCluster(c types.DBCluster, region string) Target {
	t := Target{
		Kind:          KindCluster,
		Identifier:    aws.ToString(c.DBClusterIdentifier),
		Engine:        aws.ToString(c.Engine),
		EngineVersion: aws.ToString(c.EngineVersion),
		Host:          aws.ToString(c.Endpoint),
		ReaderHost:    aws.ToString(c.ReaderEndpoint),
		Port:          int(aws.ToInt32(c.Port)),
		Region:        region,
		ResourceID:    aws.ToString(c.DbClusterResourceId),
		IAMAuth:       aws.ToBool(c.IAMDatabaseAuthenticationEnabled),
		Public:        aws.ToBool(c.PubliclyAccessible),
		Status:        aws.ToString(c.Status),
		MasterUser:    aws.ToString(c.MasterUsername),
	}
	for _, sg := range c.VpcSecurityGroups {
		t.SecurityGroups = append(t.SecurityGroups, aws.ToString(sg.VpcSecurityGroupId))
	}
	if c.MasterUserSecret != nil {
		t.MasterSecretARN = aws.ToString(c.MasterUserSecret.SecretArn)
	}
	if c.CertificateDetails != nil {
		t.CAIdentifier = aws.ToString(c.CertificateDetails.CAIdentifier)
	}
	if t.Port == 0 {
		t.Port = DefaultPort(t.Engine)
	}
	return t
}

func isCode(err error, codes ...string) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	for _, c := range codes {
		if apiErr.ErrorCode() == c {
			return true
		}
	}
	return false
}
