// Package suggest finds, among the words a program knows, the one a user
// most plausibly meant to type, for "did you mean" hints on config keys,
// target names, route kinds and subcommands.
package suggest

import (
	"strings"
	"unicode/utf8"
)

// Closest returns the candidate nearest to word, ignoring case, when it is
// close enough to be a plausible typo: at most 2 edits away for a word of
// more than 4 letters, at most 1 for a shorter one. An edit inserts, deletes
// or replaces one letter, or swaps two adjacent ones ("reigon" is one edit
// from "region"). It reports false when no candidate is that close, when
// word is empty (empty candidates are never suggested), or when two different candidates are equally close, since
// naming either would be a guess. The candidate is returned as spelled in
// candidates; an exact match (in any case) is its own suggestion.
func Closest(word string, candidates []string) (string, bool) {
	if word == "" {
		return "", false
	}
	w := []rune(strings.ToLower(word))
	limit := 1
	if len(w) > 4 {
		limit = 2
	}
	best, bestDist, tie := "", limit+1, false
	for _, c := range candidates {
		if c == "" || c == best {
			continue // nothing to suggest, or a repeat that is no second guess
		}
		// Lengths further apart than the limit cannot be within it.
		if d := utf8.RuneCountInString(c) - len(w); d > limit || -d > limit {
			continue
		}
		d := distance(w, []rune(strings.ToLower(c)), limit)
		switch {
		case d < bestDist:
			best, bestDist, tie = c, d, false
		case d == bestDist && d <= limit:
			tie = true
		}
	}
	if bestDist > limit || tie {
		return "", false
	}
	return best, true
}

// distance is the optimal string alignment distance between a and b
// (Levenshtein plus the swap of two adjacent letters), or limit+1 when it
// exceeds limit.
func distance(a, b []rune, limit int) int {
	// Three rows of the dynamic programming table: two back for swaps.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, prev2[j-2]+1)
			}
			cur[j] = d
			rowMin = min(rowMin, d)
		}
		if rowMin > limit {
			return limit + 1 // every path through this row is already too long
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(b)], limit+1)
}
