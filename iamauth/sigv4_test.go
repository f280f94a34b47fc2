package iamauth

import (
	"encoding/hex"
	"testing"
)

// TestSigningKey checks the derivation against the example in AWS's SigV4
// documentation ("Examples of how to derive a signing key").
func TestSigningKey(t *testing.T) {
	got := hex.EncodeToString(SigningKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam"))
	if want := "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"; got != want {
		t.Errorf("SigningKey = %s, want %s", got, want)
	}
}
