package target

import "testing"

func TestRegionFromHost(t *testing.T) {
	tests := []struct{ host, want string }{
		{"mydb.abc123.us-east-1.rds.amazonaws.com", "us-east-1"},
		{"MyDB.ABC123.EU-WEST-1.RDS.AMAZONAWS.COM.", "eu-west-1"},
		{"orders.cluster-ro-abc.ap-south-1.rds.amazonaws.com", "ap-south-1"},
		{"db.xyz.cn-north-1.rds.amazonaws.com.cn", "cn-north-1"},
		{"db.internal.example.com", ""},
		{"rds.amazonaws.com", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := RegionFromHost(tc.host); got != tc.want {
			t.Errorf("RegionFromHost(%q) = %q, want %q", tc.host, got, tc.want)
		}
	}
}

func TestEngineFamilyAndPort(t *testing.T) {
	tests := []struct {
		engine string
		family Family
		port   int
	}{
		{"postgres", FamilyPostgres, 5432},
		{"aurora-postgresql", FamilyPostgres, 5432},
		{"mysql", FamilyMySQL, 3306},
		{"MariaDB", FamilyMySQL, 3306},
		{"aurora-mysql", FamilyMySQL, 3306},
		{"oracle-ee", "", 0},
	}
	for _, tc := range tests {
		if got := EngineFamily(tc.engine); got != tc.family {
			t.Errorf("EngineFamily(%q) = %q, want %q", tc.engine, got, tc.family)
		}
		if got := DefaultPort(tc.engine); got != tc.port {
			t.Errorf("DefaultPort(%q) = %d, want %d", tc.engine, got, tc.port)
		}
	}
}
