package mysqlwire

import "testing"

func TestCapabilityString(t *testing.T) {
	if got, want := (ClientProtocol41 | ClientSSL | ClientDeprecateEOF).String(), "PROTOCOL_41|SSL|DEPRECATE_EOF"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got := Capability(0).String(); got != "0" {
		t.Errorf("zero = %q", got)
	}
	if got, want := (MariaDBClientProgress | MariaDBClientCacheMetadata | 1<<9).String(), "PROGRESS|CACHE_METADATA|BIT9"; got != want {
		t.Errorf("MariaDB String = %q, want %q", got, want)
	}
	// The numeric values are protocol constants; spot-check the ones the
	// relay depends on.
	for _, c := range []struct {
		c    Capability
		want uint32
	}{
		{ClientMySQL, 1}, {ClientConnectWithDB, 8}, {ClientCompress, 32}, {ClientLocalFiles, 128},
		{ClientProtocol41, 512}, {ClientSSL, 2048}, {ClientSecureConnection, 32768},
		{ClientPluginAuth, 1 << 19}, {ClientConnectAttrs, 1 << 20}, {ClientPluginAuthLenEncClientData, 1 << 21},
		{ClientSessionTrack, 1 << 23}, {ClientDeprecateEOF, 1 << 24}, {ClientZstdCompression, 1 << 26},
		{ClientQueryAttributes, 1 << 27},
	} {
		if uint32(c.c) != c.want {
			t.Errorf("%v = %d, want %d", c.c, uint32(c.c), c.want)
		}
	}
	if !(ClientSSL | ClientCompress).Has(ClientSSL) || ClientSSL.Has(ClientSSL|ClientCompress) {
		t.Error("Has")
	}
}
