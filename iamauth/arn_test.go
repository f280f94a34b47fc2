package iamauth

import "testing"

func TestPolicyResourceARN(t *testing.T) {
	tests := []struct {
		partition, region, account, resource, user string
		want                                       string
	}{
		{"aws", "us-east-1", "123456789012", "db-ABCDEFGHIJKL01234", "jane",
			"arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEFGHIJKL01234/jane"},
		{"", "eu-west-1", "123456789012", "cluster-ABCDEFGHIJKL01234", "Jane_RW",
			"arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABCDEFGHIJKL01234/Jane_RW"},
		{"aws-cn", "cn-north-1", "123456789012", "db-X", "*",
			"arn:aws-cn:rds-db:cn-north-1:123456789012:dbuser:db-X/*"},
		{"aws-us-gov", "us-gov-west-1", "123456789012", "*", "app",
			"arn:aws-us-gov:rds-db:us-gov-west-1:123456789012:dbuser:*/app"},
	}
	for _, tc := range tests {
		if got := PolicyResourceARN(tc.partition, tc.region, tc.account, tc.resource, tc.user); got != tc.want {
			t.Errorf("PolicyResourceARN(%q, %q, %q, %q, %q) = %q, want %q",
				tc.partition, tc.region, tc.account, tc.resource, tc.user, got, tc.want)
		}
	}
}
