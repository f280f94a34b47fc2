// Package rdsca provides the RDS certificate authorities: a CA pool from a
// file, the environment, or AWS's trust store (downloaded once, cached,
// revalidated daily), and TLS configs that always verify the server's name.
//
// Where the pool comes from, first match wins:
//
//  1. Options.File (the --ca-bundle flag);
//  2. the RDSGATE_CA_BUNDLE environment variable: a file name, or the PEM
//     text itself;
//  3. the bundle of AWS's trust store for the region's partition, kept in
//     the user cache directory and revalidated with the server (ETag,
//     Last-Modified) once it is older than Options.MaxAge.
//
// Trust store addresses (AWS, "Using SSL/TLS to encrypt a connection to a DB
// instance or cluster", docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html
// and its China edition at docs.amazonaws.cn; the same templates are used by
// Teleport's lib/srv/db/ca.go and ca_test.go):
//
//	aws (commercial)  https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
//	aws-us-gov        https://truststore.pki.us-gov-west-1.rds.amazonaws.com/<region>/<region>-bundle.pem
//	aws-cn            https://rds-truststore.s3.cn-north-1.amazonaws.com.cn/<region>/<region>-bundle.pem
//
// The commercial global bundle holds the roots and intermediates of every
// commercial region; GovCloud and China have their own CA hierarchies, so
// their regions use their own region bundles. AWS serves the certificates
// only over HTTPS, and so does this package (plain HTTP is allowed only to a
// loopback address, for tests).
//
// Nothing in this package turns verification off: a TLS config made here
// always checks the chain against the bundle and the certificate against
// the endpoint name.
package rdsca
