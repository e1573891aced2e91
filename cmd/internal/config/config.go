// Package config layers netmon's settings: the config file (YAML, read with
// every error's line), the NETMON_* variables and the flags.
//
// The config file holds every flag of every command under the flag's own
// name, so that one file serves run, replay, top and prune alike, plus the
// sections a flag cannot express (nicknames, encrypted-dns, devices). A
// setting comes from, strongest first: a flag, its environment variable
// (NETMON_WINDOW for --window), the file, the default. Rather than one
// struct field per setting, the file and the environment are applied to the
// parsed flags through pflag's own Set, so each value is read, and checked
// (cmd/internal/flagval), by exactly the code that reads the flag.
package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/netmon/netmon/resolver/nickname"
)

// DefaultFile is read when it exists and neither --config nor
// NETMON_CONFIG names another.
const DefaultFile = "/etc/netmon/netmon.yaml"

// The sections of the file that are not flags.
const (
	keyNicknames    = "nicknames"
	keyEncryptedDNS = "encrypted-dns"
	keyDevices      = "devices"
)

// Source says where a setting's value came from, weakest first.
type Source int

const (
	FromDefault Source = iota
	FromFile
	FromEnv
	FromFlag
)

func (s Source) String() string {
	return [...]string{"default", "file", "env", "flag"}[s]
}

// Flag annotations: where the value came from ([source, where]) and that a
// flag takes a comma-separated list, which the file may write as a YAML list.
const (
	sourceAnnotation = "netmon/source"
	ListAnnotation   = "netmon/list"
)

// SourceOf says where flag name of flags got its value, and from which
// variable or file. A flag set that netmon did not layer (a test's) counts
// values as given on the command line.
func SourceOf(flags *pflag.FlagSet, name string) (Source, string) {
	fl := flags.Lookup(name)
	if fl == nil {
		return FromDefault, ""
	}
	if a := fl.Annotations[sourceAnnotation]; len(a) == 2 {
		for s := FromDefault; s <= FromFlag; s++ {
			if a[0] == s.String() {
				return s, a[1]
			}
		}
	}
	if fl.Changed {
		return FromFlag, ""
	}
	return FromDefault, ""
}

func setSource(fl *pflag.Flag, s Source, where string) {
	if fl.Annotations == nil {
		fl.Annotations = map[string][]string{}
	}
	fl.Annotations[sourceAnnotation] = []string{s.String(), where}
}

// envName is the variable that sets flag name: NETMON_ and the name in
// upper case with underscores. --dsn-password-file keeps the name it had
// before the others had any.
func envName(name string) string {
	if name == "dsn-password-file" {
		return "NETMON_DB_PASSWORD_FILE"
	}
	return "NETMON_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// FileKey reports whether the file (and the environment) may set flag
// name: --config picks the file itself.
func FileKey(name string) bool { return name != "help" && name != "config" }

// fromEnvironment reports whether flag name's variable sets it. $NETMON_DB
// is not --db's value but its default, used only when nothing names a
// database (see dsnFlags.resolve), as before there was a file: so a DSN in
// the file beats the NETMON_DB the systemd unit sets.
func fromEnvironment(name string) bool { return FileKey(name) && name != "db" }

// Error is one problem with the config file.
type Error struct {
	line int
	// key is the top-level key the problem belongs to: a command reports
	// only those of the keys it uses. "" is the file as a whole (its
	// syntax, an unknown key), which every command reports.
	key string
	msg string
}

// File is a parsed config file.
type File struct {
	Path string
	// values are the top-level keys that name flags, with their line.
	values map[string]*yaml.Node
	lines  map[string]int
	// rules are the encrypted-dns resolvers, then the nicknames in file order.
	Rules   []nickname.Rule
	Devices map[string]string // names by lower-case aa:bb:cc:dd:ee:ff
	errs    []Error
}

func (f *File) errorf(line int, key, format string, args ...any) {
	f.errs = append(f.errs, Error{line, key, fmt.Sprintf(format, args...)})
}

// At formats an error as FILE:LINE: message.
func (f *File) At(e Error) string {
	if e.line > 0 {
		return fmt.Sprintf("%s:%d: %s", f.Path, e.line, e.msg)
	}
	return fmt.Sprintf("%s: %s", f.Path, e.msg)
}

// sectionsErr is the errors of the sections (nicknames, encrypted-dns,
// devices), for the commands that use them.
func (f *File) sectionsErr() error {
	var msgs []string
	for _, e := range f.errs {
		if e.key == keyNicknames || e.key == keyEncryptedDNS || e.key == keyDevices {
			msgs = append(msgs, f.At(e))
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; "))
}

// yamlLine finds the line in a YAML syntax error ("yaml: line 3: ...").
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse reads a config file's text. known reports whether a key is
// the name of some command's flag. Every problem is collected, not just the
// first, each with its line.
func Parse(path string, data []byte, known KeySet) *File {
	f := &File{Path: path, values: map[string]*yaml.Node{}, lines: map[string]int{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// The library leaves the line out when it is the first (its
		// marks count from 0, and 0 reads as none).
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 1
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		f.errorf(line, "", "YAML: %s", msg)
		return f
	}
	if len(doc.Content) == 0 {
		return f // an empty file, or only comments
	}
	top := doc.Content[0]
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return f
	}
	if top.Kind != yaml.MappingNode {
		f.errorf(top.Line, "", "want \"key: value\" lines, got %s", kindName(top))
		return f
	}
	seen := map[string]int{}
	var doh, nick []nickname.Rule
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], resolveAlias(top.Content[i+1])
		key := k.Value
		if prev, dup := seen[key]; dup {
			f.errorf(k.Line, "", "%q given twice (first on line %d)", key, prev)
			continue
		}
		seen[key] = k.Line
		switch {
		case key == keyNicknames:
			nick = f.parseNicknames(v)
		case key == keyEncryptedDNS:
			doh = f.parseEncryptedDNS(v)
		case key == keyDevices:
			f.parseDevices(v)
		case known[key]:
			f.values[key], f.lines[key] = v, k.Line
		default:
			msg := fmt.Sprintf("unknown key %q", key)
			if s := closest(key, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			f.errorf(k.Line, "", "%s", msg)
		}
	}
	// An encrypted-DNS resolver is a more specific fact than a service
	// name, so it is tried first: 1.1.1.1 stays DNS-over-HTTPS under a
	// rule that calls 1.1.1.0/24 Cloudflare.
	f.Rules = append(doh, nick...)
	return f
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return fmt.Sprintf("%q", n.Value)
}

// scalar returns a node's single value; a YAML null (a key with nothing
// after it) is refused rather than read as "", which a user who meant an
// empty string writes as "".
func scalar(n *yaml.Node) (string, error) {
	n = resolveAlias(n)
	switch {
	case n.Kind != yaml.ScalarNode:
		return "", fmt.Errorf("want one value, got %s", kindName(n))
	case n.Tag == "!!null":
		return "", errors.New("no value (write \"\" for an empty one)")
	}
	return n.Value, nil
}

// KeySet is the flag names a file may hold as keys.
type KeySet map[string]bool

// Keys collects the flags of every command under root.
func Keys(root *cobra.Command) KeySet {
	keys := KeySet{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, set := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			set.VisitAll(func(fl *pflag.Flag) {
				if FileKey(fl.Name) {
					keys[fl.Name] = true
				}
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return keys
}

// closest is the known key at most two edits from key, for a typo's error.
func closest(key string, known KeySet) string {
	candidates := []string{keyNicknames, keyEncryptedDNS, keyDevices}
	for k := range known {
		candidates = append(candidates, k)
	}
	slices.Sort(candidates) // the same suggestion every time
	best, bestD := "", 3
	for _, k := range candidates {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// setFlag gives fl a value from the environment or the file, through the
// flag's own Set, which checks it (cmd/internal/flagval) as it would on the
// command line.
func setFlag(fl *pflag.Flag, v string) error {
	if err := fl.Value.Set(v); err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			// strconv's own words name a Go function, not the setting.
			return fmt.Errorf("%q is not a valid %s", v, fl.Value.Type())
		}
		return err
	}
	fl.Changed = true
	return nil
}

// fileValue is the text a node gives a flag: a scalar, or for a list flag
// a YAML list, joined with commas as on the command line.
func fileValue(fl *pflag.Flag, n *yaml.Node) (string, error) {
	n = resolveAlias(n)
	if n.Kind != yaml.SequenceNode {
		return scalar(n)
	}
	if _, list := fl.Annotations[ListAnnotation]; !list {
		return "", fmt.Errorf("want one value, got %s", kindName(n))
	}
	items := make([]string, 0, len(n.Content))
	for _, item := range n.Content {
		s, err := scalar(item)
		if err != nil {
			return "", err
		}
		items = append(items, s)
	}
	return strings.Join(items, ","), nil
}

// Apply gives every flag of fs that the command line left alone its
// value from the environment, else from the file (nil: none), and records
// where each value came from. It reports every problem at once: the file's
// own (syntax, unknown keys) and those of the values this command uses;
// the keys of other commands are not this command's business.
func Apply(flags *pflag.FlagSet, file *File, lookupEnv func(string) (string, bool)) error {
	var msgs []string
	var fileErrs []Error
	if file != nil {
		for _, e := range file.errs {
			if e.key == "" {
				fileErrs = append(fileErrs, e)
			}
		}
	}
	flags.VisitAll(func(fl *pflag.Flag) {
		if !FileKey(fl.Name) {
			return
		}
		if fl.Changed {
			setSource(fl, FromFlag, "")
			return
		}
		if name := envName(fl.Name); fromEnvironment(fl.Name) {
			// An empty variable is unset, as NETMON_DSN= always was: an
			// environment file's blank line must not clear a setting.
			if v, ok := lookupEnv(name); ok && v != "" {
				if err := setFlag(fl, v); err != nil {
					msgs = append(msgs, fmt.Sprintf("%s: %v", name, err))
					return
				}
				setSource(fl, FromEnv, name)
				return
			}
		}
		if file == nil {
			return
		}
		n, ok := file.values[fl.Name]
		if !ok {
			return
		}
		line := file.lines[fl.Name]
		v, err := fileValue(fl, n)
		if err == nil {
			err = setFlag(fl, v)
		}
		if err != nil {
			fileErrs = append(fileErrs, Error{line: line, key: fl.Name, msg: fmt.Sprintf("%s: %v", fl.Name, err)})
			return
		}
		setSource(fl, FromFile, fmt.Sprintf("%s:%d", file.Path, line))
	})
	slices.SortStableFunc(fileErrs, func(a, b Error) int { return a.line - b.line })
	for _, e := range fileErrs {
		msgs = append(msgs, file.At(e))
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// Path is the file to read: --config (explicitly empty: none), else
// $NETMON_CONFIG, else the default when it exists. explicit says the user
// named it, so that it must exist.
func Path(flags *pflag.FlagSet) (path string, explicit bool) {
	if fl := flags.Lookup("config"); fl != nil && fl.Changed {
		return fl.Value.String(), true
	}
	if p := os.Getenv("NETMON_CONFIG"); p != "" {
		return p, true
	}
	return DefaultFile, false
}

// maxConfigFile caps the config file: a few thousand nickname rules take
// 100 KiB; an 86 MB file of 2 million took 3 GB to parse.
const maxConfigFile = 1 << 20

// readCapped reads a file whole once its size says it holds at most max
// bytes; a file that grows while read, or a pipe, is cut at max+1 and
// refused all the same.
func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tooBig := func(n int64) error {
		return fmt.Errorf("%w: %d bytes, more than the %d MiB a config file may hold", errTooLarge, n, max>>20)
	}
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > max {
		return nil, tooBig(st.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(data)) > max {
		return nil, tooBig(int64(len(data)))
	}
	return data, err
}

var errTooLarge = errors.New("too large")

// Read reads and parses the file at path; a file the user did not
// name that does not exist is no file (nil).
func Read(path string, explicit bool, known KeySet) (*File, error) {
	if path == "" {
		return nil, nil
	}
	data, err := readCapped(path, maxConfigFile)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return Parse(path, data, known), nil
}

// Settings is what the root command learns before a command runs: the
// config file, whose sections run and replay read.
type Settings struct {
	file *File
}

// Load reads the config file and layers it and the environment under the
// flags of c, the command about to run.
func (s *Settings) Load(c *cobra.Command) error {
	path, explicit := Path(c.Flags())
	file, err := Read(path, explicit, Keys(c.Root()))
	if err != nil {
		return fmt.Errorf("%w (give --config an existing file, or --config '' for none)", err)
	}
	s.file = file
	return Apply(c.Flags(), file, os.LookupEnv)
}

// Sections returns the nickname rules and device names of the file read
// by Load (none without a file).
func (s *Settings) Sections() ([]nickname.Rule, map[string]string, error) {
	if s == nil {
		return nil, nil, nil
	}
	return s.file.Sections()
}

// Sections returns the file's nickname rules and device names, or the
// errors of those sections, for the commands that use them.
func (f *File) Sections() ([]nickname.Rule, map[string]string, error) {
	if f == nil {
		return nil, nil, nil
	}
	if err := f.sectionsErr(); err != nil {
		return nil, nil, err
	}
	return f.Rules, f.Devices, nil
}

// Errors are the file's own errors: its syntax, unknown keys, its
// sections. The values of flags are checked when applied (Apply, Check).
func (f *File) Errors() []Error { return f.errs }
