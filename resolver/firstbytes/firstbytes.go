// Package firstbytes reads the name a flow gives its server in its first
// bytes: the SNI of a TLS ClientHello (TLS), the host of an HTTP/1.x
// request head (HTTP), the SNI of a QUIC client's Initial packets (QUIC).
// The parsers are pure: they take bytes, and return what they read and
// whether more bytes could change it. Which flows are followed, what their
// names are worth and what is counted is the learner's business
// (package resolver).
package firstbytes

// Status is what a first-bytes parser concluded from the bytes so far.
type Status uint8

const (
	// NeedMore: the bytes are a valid beginning; more may bring a name.
	NeedMore Status = iota
	// Found: the name is there.
	Found
	// NoName: the message is complete without a name, or the bytes are
	// not this protocol. More bytes would not change that.
	NoName
)
