// Package docs embeds rdsgate's command reference: one page per command in
// commands/ (rdsgate_grant.md for `rdsgate grant`), which is also the text
// `rdsgate COMMAND --help` prints, so the two cannot drift apart.
package docs

import (
	"embed"
	"strings"
)

//go:embed commands/rdsgate*.md
var commands embed.FS

// Page is one command's reference: the description (the text block) and
// the examples (the sh block), as --help shows them, and what the command
// prints when it is done (a "text next" block), if the page says.
type Page struct {
	Long, Example, Next string
}

// Command returns the page of the command at path, as cobra spells it
// ("rdsgate config trust"), and whether there is one.
func Command(path string) (Page, bool) {
	b, err := commands.ReadFile("commands/" + strings.ReplaceAll(path, " ", "_") + ".md")
	if err != nil {
		return Page{}, false
	}
	s := string(b)
	return Page{Long: fenced(s, "text"), Example: fenced(s, "sh"), Next: fenced(s, "text next")}, true
}

// Commands lists the paths of the commands that have pages.
func Commands() []string {
	entries, _ := commands.ReadDir("commands")
	var out []string
	for _, e := range entries {
		out = append(out, strings.ReplaceAll(strings.TrimSuffix(e.Name(), ".md"), "_", " "))
	}
	return out
}

// fenced is the body of the first code block of lang in s.
func fenced(s, lang string) string {
	_, rest, ok := strings.Cut(s, "```"+lang+"\n")
	if !ok {
		return ""
	}
	body, _, _ := strings.Cut(rest, "\n```")
	return body
}
