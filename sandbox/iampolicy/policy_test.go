package iampolicy

import "testing"

const connectARN = "arn:aws:rds-db:us-east-1:111122223333:dbuser:db-ABCDEFGHIJKL/jane"

func TestEvaluate(t *testing.T) {
	allowJane := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:us-east-1:111122223333:dbuser:db-ABCDEFGHIJKL/jane"}]}`
	allowAll := `{"Statement":[{"Effect":"Allow","Action":["rds-db:*"],"Resource":["arn:aws:rds-db:*:111122223333:dbuser:*/*"]}]}`
	denyJane := `{"Statement":[{"Effect":"Deny","Action":"rds-db:Connect","Resource":"*/jane"}]}`
	adminAll := `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	notAction := `{"Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}`
	ownSessions := `{"Statement":[{"Effect":"Allow","Action":"ssm:TerminateSession","Resource":"arn:aws:ssm:*:*:session/*","Condition":{"StringLike":{"ssm:resourceTag/aws:ssmmessages:session-id":["${aws:userid}"]}}}]}`
	secure := `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}`
	unknownOp := `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"aws:EpochTime":"2000000000"}}}]}`
	onlyCore := `{"Statement":[{"Effect":"Allow","Action":"iam:AttachRolePolicy","Resource":"*","Condition":{"ArnEquals":{"iam:PolicyARN":"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"}}}]}`
	notAWSManaged := `{"Statement":[{"Effect":"Allow","Action":"iam:AttachRolePolicy","Resource":"*","Condition":{"ArnNotLike":{"iam:PolicyARN":"arn:aws:iam::aws:policy/*"}}}]}`
	until := `{"Statement":[{"Effect":"Allow","Action":"rds-db:connect","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2026-12-31T18:00:00Z"}}}]}`

	tests := []struct {
		desc    string
		docs    []string
		req     Request
		want    Decision
		wantSid bool
	}{
		{"exact allow", []string{allowJane}, Request{Action: "rds-db:connect", Resource: connectARN}, Allowed, true},
		{"action case-insensitive", []string{allowJane}, Request{Action: "RDS-DB:Connect", Resource: connectARN}, Allowed, true},
		{"resource case-sensitive", []string{allowJane}, Request{Action: "rds-db:connect", Resource: connectARN[:len(connectARN)-4] + "Jane"}, ImplicitDeny, false},
		{"other user", []string{allowJane}, Request{Action: "rds-db:connect", Resource: connectARN[:len(connectARN)-4] + "bob"}, ImplicitDeny, false},
		{"instance name instead of resource id", []string{allowJane}, Request{Action: "rds-db:connect", Resource: "arn:aws:rds-db:us-east-1:111122223333:dbuser:orders-prod/jane"}, ImplicitDeny, false},
		{"wildcards", []string{allowAll}, Request{Action: "rds-db:connect", Resource: connectARN}, Allowed, true},
		{"explicit deny wins", []string{allowAll, denyJane}, Request{Action: "rds-db:connect", Resource: connectARN}, ExplicitDeny, true},
		{"no policy", nil, Request{Action: "rds-db:connect", Resource: connectARN}, ImplicitDeny, false},
		{"admin", []string{adminAll}, Request{Action: "ssm:StartSession", Resource: "arn:aws:ec2:us-east-1:111122223333:instance/i-1"}, Allowed, true},
		{"NotAction allows others", []string{notAction}, Request{Action: "rds-db:connect", Resource: connectARN}, Allowed, true},
		{"NotAction excludes", []string{notAction}, Request{Action: "iam:CreateUser", Resource: "*"}, ImplicitDeny, false},
		{"condition met", []string{ownSessions}, Request{Action: "ssm:TerminateSession", Resource: "arn:aws:ssm:us-east-1:1:session/jane-0abc",
			Context: map[string]string{"aws:userid": "AIDAJANE", "ssm:resourceTag/aws:ssmmessages:session-id": "AIDAJANE"}}, Allowed, true},
		{"condition on another's session", []string{ownSessions}, Request{Action: "ssm:TerminateSession", Resource: "arn:aws:ssm:us-east-1:1:session/bob-0abc",
			Context: map[string]string{"aws:userid": "AIDAJANE", "ssm:resourceTag/aws:ssmmessages:session-id": "AIDABOB"}}, ImplicitDeny, false},
		{"condition key missing", []string{ownSessions}, Request{Action: "ssm:TerminateSession", Resource: "arn:aws:ssm:us-east-1:1:session/x"}, ImplicitDeny, false},
		{"bool condition false", []string{secure}, Request{Action: "s3:GetObject", Resource: "x", Context: map[string]string{"aws:securetransport": "false"}}, ImplicitDeny, false},
		{"bool condition true", []string{secure}, Request{Action: "s3:GetObject", Resource: "x", Context: map[string]string{"aws:SecureTransport": "true"}}, Allowed, true},
		{"unknown operator fails closed", []string{unknownOp}, Request{Action: "x:y", Resource: "z", Context: map[string]string{"aws:EpochTime": "1"}}, ImplicitDeny, false},
		{"ArnEquals matches", []string{onlyCore}, Request{Action: "iam:AttachRolePolicy", Resource: "r", Context: map[string]string{"iam:PolicyARN": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"}}, Allowed, true},
		{"ArnEquals refuses another", []string{onlyCore}, Request{Action: "iam:AttachRolePolicy", Resource: "r", Context: map[string]string{"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}}, ImplicitDeny, false},
		{"ArnNotLike refuses a match", []string{notAWSManaged}, Request{Action: "iam:AttachRolePolicy", Resource: "r", Context: map[string]string{"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}}, ImplicitDeny, false},
		{"ArnNotLike allows others", []string{notAWSManaged}, Request{Action: "iam:AttachRolePolicy", Resource: "r", Context: map[string]string{"iam:PolicyARN": "arn:aws:iam::111122223333:policy/mine"}}, Allowed, true},
		{"access until a time, before it", []string{until}, Request{Action: "rds-db:connect", Resource: connectARN, Context: map[string]string{"aws:CurrentTime": "2026-12-31T17:59:59Z"}}, Allowed, true},
		{"access until a time, after it", []string{until}, Request{Action: "rds-db:connect", Resource: connectARN, Context: map[string]string{"aws:CurrentTime": "2026-12-31T18:00:00Z"}}, ImplicitDeny, false},
		{"a time that does not parse", []string{until}, Request{Action: "rds-db:connect", Resource: connectARN, Context: map[string]string{"aws:CurrentTime": "soon"}}, ImplicitDeny, false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var docs []Document
			for _, d := range tc.docs {
				doc, err := Parse([]byte(d))
				if err != nil {
					t.Fatal(err)
				}
				docs = append(docs, doc)
			}
			got := Evaluate(docs, tc.req)
			if got.Decision != tc.want {
				t.Errorf("decision = %s, want %s", got.Decision, tc.want)
			}
			if (got.Statement != nil) != tc.wantSid {
				t.Errorf("statement = %v", got.Statement)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, text := range []string{
		`{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}`,
		`{"Statement":[{"Effect":"Allow","Resource":"*"}]}`,
		`{"Statement":[{"Effect":"Allow","Action":"*","NotAction":"x","Resource":"*"}]}`,
		`{"Statement":[{"Effect":"Allow","Action":"*"}]}`,
		`{"Statement":[{"Effect":"Allow","Action":7,"Resource":"*"}]}`,
		`not json`,
	} {
		if _, err := Parse([]byte(text)); err == nil {
			t.Errorf("Parse(%s) accepted", text)
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		p, v string
		want bool
	}{
		{"*", "", true}, {"*", "anything", true}, {"a*c", "abbbc", true}, {"a*c", "abbb", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"*/jane", "x/y/jane", true}, {"db-*/*", "db-1/u", true},
		{"**a", "bbba", true}, {"a*b*c", "aXbYc", true}, {"a*b*c", "aXcYb", false}, {"", "", true}, {"", "x", false},
	}
	for _, tc := range tests {
		if got := Match(tc.p, tc.v); got != tc.want {
			t.Errorf("Match(%q, %q) = %v", tc.p, tc.v, got)
		}
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("a*b?c", "aXXbYc")
	f.Fuzz(func(t *testing.T, p, v string) {
		if len(p) > 200 || len(v) > 200 {
			return
		}
		_ = Match(p, v)
		if !Match(p, p) && !containsWild(p) {
			t.Errorf("a literal pattern must match itself: %q", p)
		}
	})
}

func containsWild(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '*' || s[i] == '?' {
			return true
		}
	}
	return false
}
