package ssm

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/rdsgate/rdsgate/sandbox"
)

// The one bastion lookup, against the sandbox's EC2 and SSM APIs.
func TestDescribeAndFindBastion(t *testing.T) {
	sb, err := sandbox.Start(context.Background(), sandbox.Options{Dir: t.TempDir(), Engines: []string{"postgres"}, Backend: sandbox.BackendEmbedded, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	p := sb.Principal(sandbox.ProfileAdmin)
	creds := credentials.NewStaticCredentialsProvider(p.AccessKeyID, p.SecretAccessKey, "")
	apis := BastionAPIs{
		EC2: ec2.New(ec2.Options{Region: sb.World.Region, BaseEndpoint: aws.String(sb.APIURL), Credentials: creds}),
		SSM: ssm.New(ssm.Options{Region: sb.World.Region, BaseEndpoint: aws.String(sb.APIURL), Credentials: creds}),
	}
	ctx := context.Background()
	tests := []struct {
		desc, id, tag string
		wantIDs       []string
		wantErr       error
	}{
		{"by id", sandbox.BastionID, "", []string{sandbox.BastionID}, nil},
		{"by tag", "", "Name=" + sandbox.BastionName, []string{sandbox.BastionID}, nil},
		{"a tag nobody has", "", "Name=nobody", nil, nil},
		{"neither", "", "", nil, ErrNoBastion},
		{"a tag without =", "", "Name", nil, ErrNoBastion},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			bs, err := DescribeBastions(ctx, apis, tc.id, tc.tag)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			var ids []string
			for _, b := range bs {
				ids = append(ids, b.ID())
				if !b.Online() || b.AvailabilityZone() == "" {
					t.Errorf("%s: online %v, zone %q", b.ID(), b.Online(), b.AvailabilityZone())
				}
			}
			if strings.Join(ids, ",") != strings.Join(tc.wantIDs, ",") {
				t.Errorf("ids %v, want %v", ids, tc.wantIDs)
			}
		})
	}
	if id, err := FindBastion(ctx, apis, "", "Name="+sandbox.BastionName); err != nil || id != sandbox.BastionID {
		t.Errorf("FindBastion by tag = %q, %v", id, err)
	}
	if _, err := FindBastion(ctx, apis, "", "Name=nobody"); err == nil || !strings.Contains(err.Error(), "no running instance is tagged Name=nobody") {
		t.Errorf("FindBastion with no match: %v", err)
	}
}
