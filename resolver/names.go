package resolver

import (
	"sync/atomic"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/resolver/source"
)

// nameVariant is what, besides the domain, makes two flow names differ.
type nameVariant struct {
	src   source.Source
	nick  string
	outer bool
}

// maxInterned bounds the distinct flow names kept for reuse. Beyond it the
// set starts afresh: names still in use keep their values, new flows of
// the same name get a new one, which costs a little aggregation, nothing
// more.
const maxInterned = 8192

// interner gives every distinct flow name one shared capture.FlowName, so
// that setting Packet.Name costs nothing and later stages can compare
// names by pointer.
type interner struct {
	m      map[string][]*capture.FlowName
	resets atomic.Uint64
}

// get returns the FlowName for domain and v. Looking up with string(b)
// does not allocate; only a name seen for the first time does.
func (in *interner) get(domain []byte, v nameVariant) *capture.FlowName {
	for _, n := range in.m[string(domain)] {
		if n.Source == v.src && n.Nickname == v.nick && n.Outer == v.outer {
			return n
		}
	}
	if in.m == nil || len(in.m) >= maxInterned {
		if in.m != nil {
			in.resets.Add(1)
		}
		in.m = make(map[string][]*capture.FlowName)
	}
	d := string(domain)
	if vs := in.m[d]; len(vs) > 0 {
		d = vs[0].Domain // share the string
	}
	n := &capture.FlowName{Domain: d, Source: v.src, Nickname: v.nick, Outer: v.outer}
	in.m[d] = append(in.m[d], n)
	return n
}
