// Package flagval holds netmon's typed flag values. Each is a pflag.Value
// whose Set reads and checks its text: a size, a duration or an age within
// its limits, a BPF filter, a list of CIDRs, a log level, one of a few
// words, a listen address, a user, an interface. A value is checked there
// and only there, so a flag, its NETMON_* variable, a config file key (with
// its line) and netmon config check refuse it alike, before a command
// creates anything; the commands read values that are already good.
package flagval

import (
	"errors"
	"fmt"
	"strings"
)

// Value is a flag value of type T read from text by parse. String is the
// text it was last given (its default at first), so that help and netmon
// config show print what the user wrote: 512MiB, not 536870912.
type Value[T any] struct {
	p     *T
	text  string
	typ   string
	parse func(string) (T, error)
	// show, when set, prints the value instead of its text: one spelling
	// for a duration however it was written (5m, not 5m0s or 300s).
	show func(T) string
}

// New makes a flag value that stores into p what parse reads from its
// text, starting from def, which must parse. typ names the kind of text in
// help (--spool-max size).
func New[T any](p *T, def, typ string, parse func(string) (T, error)) *Value[T] {
	v := &Value[T]{p: p, typ: typ, parse: parse}
	if err := v.Set(def); err != nil {
		// A default is netmon's own text: one that does not parse is a
		// bug found by the first test that builds the command.
		panic(fmt.Sprintf("flagval: default %q: %v", def, err))
	}
	return v
}

// Set reads s; an error says what is wrong with it, without the setting's
// name, which the caller knows (--window, NETMON_WINDOW, FILE:LINE: window).
func (v *Value[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return err
	}
	*v.p, v.text = x, s
	return nil
}

func (v *Value[T]) String() string {
	if v.show != nil {
		return v.show(*v.p)
	}
	return v.text
}
func (v *Value[T]) Type() string { return v.typ }

// Error phrases err as a problem with flag name (--window): a sentence
// when err is one about the value, "--window must be at most 24h, got
// 25h" or `--by "vendor": want service, domain or device`, "--name: cause"
// otherwise.
func Error(name string, err error) error {
	var le *LimitError
	if errors.As(err, &le) || strings.HasPrefix(err.Error(), `"`) {
		return fmt.Errorf("%s %w", name, err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// Enum reads one of words.
func Enum(p *string, def string, words ...string) *Value[string] {
	return New(p, def, strings.Join(words, "|"), func(s string) (string, error) {
		for _, w := range words {
			if s == w {
				return s, nil
			}
		}
		return "", fmt.Errorf("%q: want %s", s, orList(words))
	})
}

// orList writes words as "a, b or c".
func orList(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
