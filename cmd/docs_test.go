package cmd

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// referenceDir holds the flag reference generated from the commands.
const referenceDir = "../docs/reference"

// genReference writes one Markdown page per command into dir.
func genReference(t *testing.T, dir string) {
	t.Helper()
	root := newRoot(io.Discard, io.Discard)
	root.InitDefaultCompletionCmd() // cobra adds it at Execute; the reference shows it too
	root.DisableAutoGenTag = true   // no date: the files must not change by themselves
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.DisableAutoGenTag = true
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		t.Fatal(err)
	}
}

// TestFlagReference fails when docs/reference/ is not what the commands
// generate; `go test ./cmd -run TestFlagReference -update` rewrites it.
func TestFlagReference(t *testing.T) {
	if *update {
		if err := os.RemoveAll(referenceDir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(referenceDir, 0o755); err != nil {
			t.Fatal(err)
		}
		genReference(t, referenceDir)
		return
	}
	fresh := t.TempDir()
	genReference(t, fresh)
	want := readDir(t, fresh)
	got := readDir(t, referenceDir)
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("docs/reference/%s is missing; run go test ./cmd -run TestFlagReference -update", name)
		case !bytes.Equal(g, w):
			t.Errorf("docs/reference/%s is stale; run go test ./cmd -run TestFlagReference -update", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("docs/reference/%s names no command; run go test ./cmd -run TestFlagReference -update", name)
		}
	}
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeading = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	mdFence   = regexp.MustCompile("^\\s*(```|~~~)")
)

// anchorOf is GitHub's anchor for a heading: lower case, punctuation other
// than '-' and '_' dropped, spaces to '-'.
func anchorOf(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127 && !strings.ContainsRune("—–’“”…·", r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// mdDoc is a Markdown file's links and anchors, outside code fences.
type mdDoc struct {
	links   []string
	anchors map[string]bool
}

func parseMarkdown(t *testing.T, path string) mdDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := mdDoc{anchors: map[string]bool{}}
	seen := map[string]int{}
	fenced := false
	for _, line := range strings.Split(string(b), "\n") {
		if mdFence.MatchString(line) {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		if m := mdHeading.FindStringSubmatch(line); m != nil {
			a := anchorOf(m[1])
			if n := seen[a]; n > 0 {
				d.anchors[a+"-"+strconvItoa(n)] = true
			} else {
				d.anchors[a] = true
			}
			seen[a]++
		}
		// Inline code may hold "](" that is no link.
		for _, m := range mdLink.FindAllStringSubmatch(stripCode(line), -1) {
			d.links = append(d.links, m[1])
		}
	}
	return d
}

func strconvItoa(n int) string { return strconv.Itoa(n) }

var inlineCode = regexp.MustCompile("`[^`]*`")

func stripCode(line string) string { return inlineCode.ReplaceAllString(line, "") }

// TestDocLinks checks that every relative link and #anchor in README.md,
// CONTRIBUTING.md and docs/ points at a file, and a heading, that exists,
// and that no link leaves the repository.
func TestDocLinks(t *testing.T) {
	files := []string{"../README.md", "../CONTRIBUTING.md"}
	pages, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	refs, err := filepath.Glob("../docs/reference/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, pages...)
	files = append(files, refs...)
	if len(pages) < 5 {
		t.Fatalf("only %d pages in docs/: the test is not looking where the docs are", len(pages))
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]mdDoc{}
	load := func(p string) mdDoc {
		if d, ok := docs[p]; ok {
			return d
		}
		d := parseMarkdown(t, p)
		docs[p] = d
		return d
	}
	checked := 0
	sort.Strings(files)
	for _, f := range files {
		for _, link := range load(f).links {
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			checked++
			target, anchor, _ := strings.Cut(link, "#")
			path := f
			if target != "" {
				path = filepath.Join(filepath.Dir(f), target)
			}
			abs, err := filepath.Abs(path)
			if err != nil {
				t.Fatal(err)
			}
			if abs != repo && !strings.HasPrefix(abs, repo+string(filepath.Separator)) {
				t.Errorf("%s: link %q leaves the repository", f, link)
				continue
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Errorf("%s: link %q: %v", f, link, err)
				continue
			}
			if anchor == "" {
				continue
			}
			if st.IsDir() || !strings.HasSuffix(path, ".md") {
				t.Errorf("%s: link %q: an anchor into something that is not a Markdown file", f, link)
				continue
			}
			if !load(path).anchors[anchor] {
				t.Errorf("%s: link %q: no heading with anchor #%s in %s", f, link, anchor, target)
			}
		}
	}
	// README.md is the front door; the rest belongs in docs/.
	if b, err := os.ReadFile("../README.md"); err != nil {
		t.Fatal(err)
	} else if n := bytes.Count(b, []byte("\n")); n > 250 {
		t.Errorf("README.md has %d lines, more than 250: move sections to docs/", n)
	}
	if checked < 20 {
		t.Errorf("only %d relative links checked: the parser is missing them", checked)
	}
}

// TestAnchorOf pins the anchor rule on headings the docs use.
func TestAnchorOf(t *testing.T) {
	for h, want := range map[string]string{
		"Raspberry Pi notes":         "raspberry-pi-notes",
		"`netmon top`":               "netmon-top",
		"Many sensors, one database": "many-sensors-one-database",
		"Metrics and health":         "metrics-and-health",
	} {
		if got := anchorOf(h); got != want {
			t.Errorf("anchorOf(%q) = %q, want %q", h, got, want)
		}
	}
}

// TestReadmeExample re-runs the README's example (three shared captures
// replayed, then netmon top) and fails when what README.md shows is no
// longer what netmon prints; -update rewrites the block.
func TestReadmeExample(t *testing.T) {
	dir := pcapDir(t)
	tmp := t.TempDir()
	db := filepath.Join(tmp, "ex.db")
	args := []string{"replay", "--config", "", "--db", db, "--state-dir", filepath.Join(tmp, "state"), "--no-ptr"}
	for _, f := range []string{"netflix.pcap", "teams.pcap", "443-firefox.pcap"} {
		args = append(args, filepath.Join(dir, f))
	}
	netmon(t, args...).mustSucceed(t)
	top := netmon(t, "top", "--config", "", "--db", db, "--since", "all", "--limit", "8")
	top.mustSucceed(t)

	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "`netmon top --db /tmp/ex.db --since all --limit 8`:\n\n```\n")
	if start < 0 {
		t.Fatal("README.md: the example's introduction is gone; keep the test and the README together")
	}
	start = strings.Index(readme[start:], "```\n") + start + len("```\n")
	end := strings.Index(readme[start:], "```\n") + start
	if *update {
		if err := os.WriteFile("../README.md", []byte(readme[:start]+top.stdout+readme[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := readme[start:end]; got != top.stdout {
		t.Errorf("README.md's netmon top example is stale; run go test ./cmd -run TestReadmeExample -update\nREADME:\n%snetmon prints:\n%s", got, top.stdout)
	}
}

// maxFileLines is the most lines a non-test Go file may hold (CONTRIBUTING):
// past it a file does more than one job and is split by job.
const maxFileLines = 600

// TestFileSizes keeps every non-test Go file of the repository within
// maxFileLines.
func TestFileSizes(t *testing.T) {
	root := filepath.Join("..")
	var over []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if n := bytes.Count(data, []byte("\n")); n > maxFileLines {
			over = append(over, path+": "+strconv.Itoa(n)+" lines")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range over {
		t.Errorf("%s, more than %d: split it by job", o, maxFileLines)
	}
}

// TestE2ETag keeps the end-to-end tests findable and run: a test file of cmd
// carries the e2e build tag exactly when its name ends in _e2e_test.go, and
// make test (which CI runs) vets and runs the suite with -tags e2e, so that
// leaving them out of a quick go test ./cmd leaves them out of nothing else.
func TestE2ETag(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	tagged := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		hasTag := bytes.HasPrefix(data, []byte("//go:build e2e\n"))
		if named := strings.HasSuffix(f, "_e2e_test.go"); hasTag != named {
			t.Errorf("%s: build tag e2e %v, name ending in _e2e_test.go %v: want both or neither", f, hasTag, named)
		}
		if hasTag {
			tagged++
		}
	}
	if tagged == 0 {
		t.Error("no file carries the e2e build tag")
	}
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\t\$\(GO\) test -race .*-tags e2e .*\./\.\.\.$`),
		regexp.MustCompile(`(?m)^\t\$\(GO\) vet -tags e2e \./\.\.\.$`),
	} {
		if !want.Match(mk) {
			t.Errorf("the Makefile has no line matching %s: make test would leave the e2e tests out", want)
		}
	}
}
