package iamsim

import "testing"

func TestPrincipal(t *testing.T) {
	tests := []struct {
		arn, want string
		ok        bool
	}{
		{"arn:aws:iam::111122223333:user/jane", "arn:aws:iam::111122223333:user/jane", true},
		{"arn:aws:sts::111122223333:assumed-role/DBAdmins/jane@example.com", "arn:aws:iam::111122223333:role/DBAdmins", true},
		{"arn:aws-us-gov:sts::111122223333:assumed-role/R/s", "arn:aws-us-gov:iam::111122223333:role/R", true},
		{"arn:aws:iam::111122223333:root", "", false},
	}
	for _, tc := range tests {
		got, ok := Principal(tc.arn)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Principal(%q) = %q, %v", tc.arn, got, ok)
		}
	}
}
