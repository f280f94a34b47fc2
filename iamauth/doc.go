// Package iamauth builds, caches, parses and verifies RDS IAM database
// authentication tokens.
//
// An RDS IAM token is a SigV4 presigned URL for the service "rds-db", without
// its scheme:
//
//	host:port?Action=connect&DBUser=u&X-Amz-Algorithm=AWS4-HMAC-SHA256&
//	X-Amz-Credential=AKID%2FYYYYMMDD%2Fregion%2Frds-db%2Faws4_request&
//	X-Amz-Date=YYYYMMDDTHHMMSSZ&X-Amz-Expires=900[&X-Amz-Security-Token=..]&
//	X-Amz-SignedHeaders=host&X-Amz-Signature=<64 hex>
//
// [Build] signs one locally (no network I/O) with the AWS SDK's SigV4 signer,
// exactly as feature/rds/auth.BuildAuthToken does but with an injected clock
// and a lower-cased host, so that its tokens equal botocore's (the AWS CLI's).
// [Cache] hands out tokens per endpoint and credentials, reusing each for at
// most ten minutes, and is the [TokenSource] the proxy uses.
//
// [Parse] and [Verify] serve the sandbox, which plays RDS: Verify checks a
// token the way a server would, with an independent implementation of the
// SigV4 canonical request, and explains a refusal with a [Reason].
//
// Tokens are credentials: nothing in this package puts a token's signature,
// a security token or a secret key into an error message.
package iamauth
