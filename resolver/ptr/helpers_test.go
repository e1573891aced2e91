package ptr

import (
	"net/netip"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	att "github.com/netmon/netmon/resolver/addrtable/addrtabletest"
)

// t0 is the packet and wall time tests start at.
var t0 = att.T0

// config is DefaultConfig with change made to it.
func config(change func(c *Config)) Config {
	c := DefaultConfig()
	change(&c)
	return c
}

// unlimited is DefaultConfig without a rate limit.
func unlimited() Config { return config(func(c *Config) { c.Rate = -1 }) }

// client is the local address the tests look names up for.
var client = netip.MustParseAddr("192.168.1.23")

var cmpOpts = cmp.Options{cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})}
