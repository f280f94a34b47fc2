package iamauth

// PolicyResourceARN returns the IAM policy resource ARN that allows
// rds-db:connect as dbUser to one database:
//
//	arn:<partition>:rds-db:<region>:<account>:dbuser:<resourceID>/<dbUser>
//
// resourceID is the instance's DbiResourceId ("db-...") or the cluster's
// DbClusterResourceId ("cluster-..."), not its name. An empty partition means
// "aws"; "aws-cn" and "aws-us-gov" are the others in use. "*" is allowed in
// any part, as IAM allows wildcards there.
func PolicyResourceARN(partition, region, account, resourceID, dbUser string) string {
	if partition == "" {
		partition = "aws"
	}
	return "arn:" + partition + ":rds-db:" + region + ":" + account + ":dbuser:" + resourceID + "/" + dbUser
}
