// Package rdsca provides the RDS certificate authorities: a CA pool from a
// file, the RDSGATE_CA_BUNDLE environment variable, or AWS's trust store
// (downloaded once, cached, revalidated daily), and TLS configs that always
// verify the server's name. Nothing in it turns verification off.
package rdsca
