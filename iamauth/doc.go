// Package iamauth builds, caches, parses and verifies RDS IAM database
// authentication tokens (SigV4 presigned URLs for the service "rds-db").
// [Build] and [Cache] give the proxy its passwords; [Parse] and [Verify], an
// independent SigV4 implementation, let the sandbox check them as RDS does.
package iamauth
