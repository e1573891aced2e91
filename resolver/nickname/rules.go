package nickname

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/netmon/netmon/asn"
)

// Rule is one of the user's own nicknames (a line of the config
// file), tried before the built-in table: "104.244.40.0/21 → Twitter" names
// the traffic to Twitter's addresses that no DNS answer or SNI named.
// Exactly one of Keyword, Suffix and Prefix is set; NewRule and
// EncryptedDNSRule make valid ones.
type Rule struct {
	// Keyword matches a whole label of the name, as the built-in keywords
	// do: "plex" matches plex.tv and x.plex.direct, not complex.com.
	Keyword string
	// Suffix matches the name itself and every name under it.
	Suffix string
	// Prefix matches the row's remote address, and a name that is an
	// address literal in it: a row counted under the bare address.
	Prefix netip.Prefix
	// Nickname is what the matching rows are called.
	Nickname string
}

// The kinds of rule, as the config file spells them.
const (
	RuleKeyword = "keyword"
	RuleSuffix  = "suffix"
	RuleCIDR    = "cidr"
)

// maxNickname is the nickname column's size (VARCHAR(255)) in characters.
const maxNickname = 255

// NewRule checks a rule and puts it in the form Namer matches:
// kind is RuleKeyword, RuleSuffix or RuleCIDR. Names are lower-cased, as
// the names on the wire are before they are nicknamed; a CIDR may also be
// a single address. The error says what is wrong with the value, without
// the kind, which the caller knows.
func NewRule(kind, value, nickname string) (Rule, error) {
	var r Rule
	nick, err := checkNickname(nickname)
	if err != nil {
		return r, err
	}
	r.Nickname = nick
	v := strings.TrimSpace(value)
	switch kind {
	case RuleKeyword:
		v = strings.ToLower(v)
		if v == "" || strings.ContainsAny(v, ". \t/") {
			return r, fmt.Errorf("%q is not one label (a keyword matches a whole label, e.g. \"plex\"; use suffix: for a name)", value)
		}
		r.Keyword = v
	case RuleSuffix:
		s, err := ruleName(value)
		if err != nil {
			return r, err
		}
		r.Suffix = s
	case RuleCIDR:
		p, err := rulePrefix(v)
		if err != nil {
			return r, err
		}
		r.Prefix = p
	default:
		return r, fmt.Errorf("unknown kind of rule %q (want keyword, suffix or cidr)", kind)
	}
	return r, nil
}

// EncryptedDNSRule makes the rule for an encrypted-DNS resolver the user
// named beyond the built-in list: a host name (it and the names under it)
// or an address or CIDR, all nicknamed DoH, as the built-in ones are.
func EncryptedDNSRule(s string) (Rule, error) {
	v := strings.TrimSpace(s)
	if p, err := rulePrefix(v); err == nil {
		return Rule{Prefix: p, Nickname: DoH}, nil
	} else if strings.ContainsAny(v, "/:") || strings.Trim(v, "0123456789.") == "" {
		// It was meant as an address: say why it is not one.
		return Rule{}, err
	}
	name, err := ruleName(v)
	if err != nil {
		return Rule{}, fmt.Errorf("%q is neither a host name nor an address or CIDR", s)
	}
	return Rule{Suffix: name, Nickname: DoH}, nil
}

// ruleName checks a suffix: a host name, lower-cased, without the dots a
// user may put around it (".example.com", "example.com.").
func ruleName(value string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(value))
	s = strings.TrimSuffix(strings.TrimPrefix(s, "."), ".")
	if s == "" {
		return "", errors.New("empty name")
	}
	if ipLiteral(s) {
		return "", fmt.Errorf("%q is an address (use cidr: for addresses)", value)
	}
	if len(s) > 253 {
		return "", fmt.Errorf("%q is longer than a name can be (253 bytes)", value)
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("%q is not a host name (empty or over-long label)", value)
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("%q is not a host name (%q is not a letter, digit, - or _)", value, c)
			}
		}
	}
	return s, nil
}

// rulePrefix reads a CIDR or a single address, as --local-net does.
func rulePrefix(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (want e.g. 104.244.40.0/21 or 2001:db8::/32)", v)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR (want e.g. 104.244.40.0/21 or 192.0.2.1)", v)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// checkNickname keeps a nickname to what the dashboards can show and the
// column can hold.
func checkNickname(n string) (string, error) {
	n = strings.TrimSpace(n)
	switch {
	case n == "":
		return "", errors.New("empty nickname")
	case !utf8.ValidString(n):
		return "", errors.New("nickname is not valid UTF-8")
	case utf8.RuneCountInString(n) > maxNickname:
		return "", fmt.Errorf("nickname longer than %d characters", maxNickname)
	case strings.ContainsFunc(n, unicode.IsControl):
		return "", errors.New("nickname holds a control character")
	}
	return n, nil
}

// Namer names services by the user's rules, in their order, the first
// that matches winning; then by the built-in catalogue (Of); then, for a
// bare address, by its owner. It is immutable, so one may serve any number
// of goroutines.
type Namer struct {
	rules []Rule
	// byAddr says whether any rule looks at addresses: if none does, a name
	// is never parsed as one.
	byAddr bool
	// owners names an address left without a name by its owner (nil:
	// none).
	owners *asn.DB
}

// Config is the user's nicknames.
type Config struct {
	// Rules are tried in their order, the first that matches winning,
	// before the built-in catalogue; NewRule and EncryptedDNSRule make
	// them.
	Rules []Rule
}

// DefaultConfig returns no rules: the catalogue alone.
func DefaultConfig() Config { return Config{} }

// Deps is what a Namer is given besides its rules.
type Deps struct {
	// Owners names an address left without a name by its owner (--asn-db):
	// the service a well-known network serves, else the organisation's
	// readable name. nil: none.
	Owners *asn.DB
}

// New returns a Namer over cfg.Rules, which it copies.
func New(cfg Config, deps Deps) *Namer {
	n := &Namer{rules: append([]Rule(nil), cfg.Rules...), owners: deps.Owners}
	for _, r := range n.rules {
		n.byAddr = n.byAddr || r.Prefix.IsValid()
	}
	return n
}

// Nickname names the service of a row counted under domain for the remote
// address remote (invalid when unknown). It runs once per row per window,
// not per packet.
func (n *Namer) Nickname(domain string, remote netip.Addr) string {
	nick, _ := n.Named(domain, remote)
	return nick
}

// Source says where a nickname came from, so that a user can see how
// much traffic each names and where a rule is worth adding.
type Source uint8

const (
	FromAddress   Source = iota // no name and no owner: the address itself
	FromLabel                   // the registrable name's first label
	FromASN                     // the owner of the address (--asn-db)
	FromRule                    // the user's nicknames or encrypted-dns
	FromCatalogue               // the built-in catalogue
)

func (s Source) String() string {
	switch s {
	case FromLabel:
		return "label"
	case FromASN:
		return "asn"
	case FromRule:
		return "rule"
	case FromCatalogue:
		return "catalogue"
	}
	return "address"
}

// ParseSource is the inverse of Source.String.
func ParseSource(s string) (Source, error) {
	for v := FromAddress; v <= FromCatalogue; v++ {
		if v.String() == s {
			return v, nil
		}
	}
	return 0, fmt.Errorf("unknown nickname source %q", s)
}

// Named is Nickname with where the nickname came from.
func (n *Namer) Named(domain string, remote netip.Addr) (string, Source) {
	nick, src := n.byRules(domain, remote)
	if n.owners != nil && src == FromAddress {
		// Only an address is known: its owner is the next best thing. A
		// literal the row is counted under names the address best.
		a := remote
		if l, err := netip.ParseAddr(nick); err == nil {
			a = l
		}
		if s, ok := n.owners.Service(a); ok {
			return s, FromASN
		}
	}
	return nick, src
}

func (n *Namer) byRules(domain string, remote netip.Addr) (string, Source) {
	if len(n.rules) == 0 {
		return Named(domain)
	}
	d := strings.TrimSuffix(strings.ToLower(domain), ".")
	remote = remote.Unmap()
	var literal netip.Addr
	if n.byAddr && ipLiteral(d) {
		literal, _ = netip.ParseAddr(d)
		literal = literal.Unmap()
	}
	for i := range n.rules {
		r := &n.rules[i]
		switch {
		case r.Keyword != "":
			if hasLabel(d, r.Keyword) {
				return r.Nickname, FromRule
			}
		case r.Suffix != "":
			if d == r.Suffix || strings.HasSuffix(d, r.Suffix) && d[len(d)-len(r.Suffix)-1] == '.' {
				return r.Nickname, FromRule
			}
		case r.Prefix.IsValid():
			if r.Prefix.Contains(remote) || r.Prefix.Contains(literal) {
				return r.Nickname, FromRule
			}
		}
	}
	return Named(domain)
}

// hasLabel reports whether label is one of d's labels.
func hasLabel(d, label string) bool {
	for off := 0; off <= len(d); {
		l, _, _ := strings.Cut(d[off:], ".")
		if l == label {
			return true
		}
		off += len(l) + 1
	}
	return false
}
