package suggest

import "testing"

func TestClosest(t *testing.T) {
	routes := []string{"direct", "ssm", "ssh"}
	routeKeys := []string{"via", "address", "bastion", "bastion_tag", "ssh", "ssh_identity", "ssh_known_hosts", "ssh_eic"}
	tests := []struct {
		desc       string
		word       string
		candidates []string
		want       string
		wantOK     bool
	}{
		{"one replaced letter in a long word", "bastian", routeKeys, "bastion", true},
		{"one extra letter in a short word", "sssm", routes, "ssm", true},
		{"one missing letter", "drect", routes, "direct", true},
		{"two edits in a word over 4 letters", "dirrekt", routes, "direct", true},
		{"two edits in a 4-letter word are too many", "smmh", routes, "", false},
		{"two edits in a short word are too many", "vpn", routes, "", false},
		{"swapped letters are one edit", "reigon", []string{"region", "profile"}, "region", true},
		{"swap in a short word", "sms", []string{"ssm", "direct"}, "ssm", true},
		{"case is ignored, the candidate's spelling kept", "BASTION", routeKeys, "bastion", true},
		{"an exact match is its own suggestion", "ssm", routes, "ssm", true},
		{"a tie is a guess", "ss", routes, "", false},
		{"a repeated candidate is no tie", "sshh", []string{"ssh", "ssh"}, "ssh", true},
		{"the nearer of two close candidates", "ssh_eicc", routeKeys, "ssh_eic", true},
		{"empty word", "", routes, "", false},
		{"no candidates", "ssm", nil, "", false},
		{"an empty candidate is never suggested", "x", []string{""}, "", false},
		{"target names", "demo-pgg", []string{"demo-pg", "demo-mysql"}, "demo-pg", true},
		{"unrelated", "carrier-pigeon", routes, "", false},
		{"letters, not bytes", "régión", []string{"region"}, "region", true},
		{"letters, not bytes, short", "ñ", []string{"n"}, "n", true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, ok := Closest(tc.word, tc.candidates)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("Closest(%q, %q) = %q, %v; want %q, %v", tc.word, tc.candidates, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "abc", 0},
		{"", "abc", 3},
		{"abc", "", 3},
		{"kitten", "sitting", 3},
		{"ab", "ba", 1},
		{"ca", "abc", 3}, // optimal string alignment, not full Damerau
		{"bastian", "bastion", 1},
	}
	for _, tc := range tests {
		if got := distance([]rune(tc.a), []rune(tc.b), 10); got != tc.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := distance([]rune(tc.a), []rune(tc.b), 1); got != min(tc.want, 2) {
			t.Errorf("distance(%q, %q) with limit 1 = %d, want %d", tc.a, tc.b, got, min(tc.want, 2))
		}
	}
}

// FuzzClosest: the answer is always one of the candidates, within the
// limit, and the early exit never changes a distance within it.
func FuzzClosest(f *testing.F) {
	f.Add("bastian", "bastion", "ssh")
	f.Add("ab", "ba", "")
	f.Fuzz(func(t *testing.T, word, c1, c2 string) {
		got, ok := Closest(word, []string{c1, c2})
		if ok && got != c1 && got != c2 {
			t.Fatalf("Closest(%q) = %q, not a candidate", word, got)
		}
		a, b := []rune(word), []rune(c1)
		full := distance(a, b, len(a)+len(b))
		if limited := distance(a, b, 2); limited != min(full, 3) {
			t.Fatalf("distance(%q, %q) = %d, limited to 2 = %d", word, c1, full, limited)
		}
		if back := distance(b, a, len(a)+len(b)); back != full {
			t.Fatalf("distance is not symmetric for %q, %q: %d, %d", word, c1, full, back)
		}
	})
}
