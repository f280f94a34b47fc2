package iamauth

import (
	"crypto/hmac"
	"crypto/sha256"
)

// SigningKey derives the SigV4 signing key of the credential scope
// date/region/service/aws4_request (date is YYYYMMDD) from a secret access
// key: HMAC-SHA256 chained from "AWS4"+secret over the scope's four parts. The
// signature of a request is the hex HMAC-SHA256 of its string to sign under
// this key. [Verify] and the sandbox's AWS API both derive keys here.
func SigningKey(secretAccessKey, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secretAccessKey), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, scopeTerminator)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
