package cmd

import "github.com/netmon/netmon/resolver/dns"

// dnsMatchFlag is --dns-match-queries: which DNS responses the learner
// believes (see dns.Match).
type dnsMatchFlag struct{ m dns.Match }

func (f *dnsMatchFlag) String() string { return f.m.String() }
func (f *dnsMatchFlag) Type() string   { return "auto|on|off" }

func (f *dnsMatchFlag) Set(s string) error {
	m, err := dns.ParseMatch(s)
	if err != nil {
		return err
	}
	f.m = m
	return nil
}

// dnsMatchUsage is the flag's help line.
const dnsMatchUsage = "learn only from UDP DNS responses that answer a query netmon saw (ID, addresses, ports): " +
	"auto for each client once it has seen that client's queries, on always, off never (for captures missing some of a client's queries)"
