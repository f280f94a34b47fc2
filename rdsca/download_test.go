package rdsca

import "testing"

func TestBundleURL(t *testing.T) {
	tests := []struct {
		region, base string
		want         string
		wantErr      bool
	}{
		// aws: one global bundle for every commercial region.
		{region: "", want: "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"},
		{region: "us-east-1", want: "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"},
		{region: "eu-central-2", want: "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"},
		{region: "ap-southeast-5", want: "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"},
		// aws-us-gov: the GovCloud trust store, the region's bundle.
		{region: "us-gov-west-1", want: "https://truststore.pki.us-gov-west-1.rds.amazonaws.com/us-gov-west-1/us-gov-west-1-bundle.pem"},
		{region: "us-gov-east-1", want: "https://truststore.pki.us-gov-west-1.rds.amazonaws.com/us-gov-east-1/us-gov-east-1-bundle.pem"},
		// aws-cn: the China trust store, the region's bundle.
		{region: "cn-north-1", want: "https://rds-truststore.s3.cn-north-1.amazonaws.com.cn/cn-north-1/cn-north-1-bundle.pem"},
		{region: "cn-northwest-1", want: "https://rds-truststore.s3.cn-north-1.amazonaws.com.cn/cn-northwest-1/cn-northwest-1-bundle.pem"},
		// A region name that would change the path is refused.
		{region: "cn-../../evil-1", wantErr: true},
		{region: "us-gov-west-1/x", wantErr: true},
		// Mirrors: the trust store's path is appended, or a .pem URL used as is.
		{region: "us-east-1", base: "https://mirror.example.test/rds/", want: "https://mirror.example.test/rds/global/global-bundle.pem"},
		{region: "us-gov-west-1", base: "https://mirror.example.test", want: "https://mirror.example.test/us-gov-west-1/us-gov-west-1-bundle.pem"},
		{region: "cn-north-1", base: "https://mirror.example.test/ca.pem", want: "https://mirror.example.test/ca.pem"},
	}
	for _, tc := range tests {
		got, err := bundleURL(tc.base, tc.region)
		if tc.wantErr {
			if err == nil {
				t.Errorf("bundleURL(%q, %q) = %q, want an error", tc.base, tc.region, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("bundleURL(%q, %q) = %q, %v; want %q", tc.base, tc.region, got, err, tc.want)
		}
		if tc.base == "" {
			if pub, err := BundleURL(tc.region); pub != got || err != nil {
				t.Errorf("BundleURL(%q) = %q, %v; want %q", tc.region, pub, err, got)
			}
		}
	}
}

func TestPartition(t *testing.T) {
	for region, want := range map[string]string{
		"": "aws", "us-east-1": "aws", "us-gov-west-1": "aws-us-gov", "us-gov-east-1": "aws-us-gov",
		"cn-north-1": "aws-cn", "cn-northwest-1": "aws-cn", "ca-central-1": "aws",
	} {
		if got := partition(region); got != want {
			t.Errorf("partition(%q) = %q, want %q", region, got, want)
		}
	}
}

func TestBundleURLMirrorQuery(t *testing.T) {
	tests := []struct{ base, region, want string }{
		{"https://mirror.example.test/rds?sig=x", "", "https://mirror.example.test/rds/global/global-bundle.pem?sig=x"},
		{"https://mirror.example.test/a/ca.pem?sig=x", "cn-north-1", "https://mirror.example.test/a/ca.pem?sig=x"},
	}
	for _, tc := range tests {
		if got, err := bundleURL(tc.base, tc.region); err != nil || got != tc.want {
			t.Errorf("bundleURL(%q, %q) = %q, %v; want %q", tc.base, tc.region, got, err, tc.want)
		}
	}
}
