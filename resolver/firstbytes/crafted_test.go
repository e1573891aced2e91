package firstbytes

import (
	"bytes"
	"encoding/binary"
	"testing"

	fbt "github.com/netmon/netmon/resolver/firstbytes/firstbytestest"
)

// TestCraftedFirstBytes gives the TLS and HTTP parsers streams whose
// lengths lie or never end: each must end unnamed (or wait for more, up to
// the limit), never panic or read past what it was given.
func TestCraftedFirstBytes(t *testing.T) {
	hello := fbt.ClientHello(fbt.HelloOpts{SNI: "lie.example"})
	tests := []struct {
		name string
		in   []byte
		st   Status
	}{
		// Longer than TLS allows a record (2^14 + 2048): not TLS.
		{"record length beyond any record", append([]byte{0x16, 3, 1, 0xff, 0xff}, hello...), NoName},
		// A 16 MiB ClientHello cannot be buffered: given up at once.
		{"handshake length beyond the limit", fbt.Records(append([]byte{1, 0xff, 0xff, 0xff}, hello[4:]...)), NoName},
		{"handshake length beyond the bytes sent", fbt.Records(append([]byte{1, 0, 0x20, 0}, hello[4:]...)), NeedMore},
		{"extensions length beyond the hello", fbt.Records(lieExtensions(hello)), NoName},
		{"endless extensions, no SNI", fbt.Records(endlessExtensions(3000)), NoName},
	}
	for _, tt := range tests {
		var scratch []byte
		info, st := TLS(tt.in, &scratch, 16<<10)
		if st != tt.st {
			t.Errorf("%s: TLS = %q status %d, want status %d", tt.name, info.SNI, st, tt.st)
		}
	}
	// A header line without end: the parser keeps asking for more (the
	// learner gives the flow up at its FlowBytes).
	head := append([]byte("GET / HTTP/1.1\r\nX-Long: "), bytes.Repeat([]byte{'a'}, 20000)...)
	if _, st := HTTP(head); st != NeedMore {
		t.Errorf("endless header line: status %d, want NeedMore", st)
	}
}

// lieExtensions makes hello's extensions block claim more bytes than follow.
func lieExtensions(hello []byte) []byte {
	h := bytes.Clone(hello)
	// type(1) len(3) version(2) random(32) session id, cipher suites, compression
	p := 4 + 2 + 32
	p += 1 + int(h[p])
	p += 2 + int(binary.BigEndian.Uint16(h[p:]))
	p += 1 + int(h[p])
	binary.BigEndian.PutUint16(h[p:], 0xfff0)
	return h
}

// endlessExtensions is a ClientHello with n empty extensions of an
// unknown type and no server_name.
func endlessExtensions(n int) []byte {
	body := []byte{3, 3}
	body = append(body, make([]byte, 32)...)
	body = append(body, 0, 0, 2, 0x13, 0x01, 1, 0)
	ext := make([]byte, 0, 4*n)
	for range n {
		ext = append(ext, 0xfa, 0xfa, 0, 0)
	}
	body = binary.BigEndian.AppendUint16(body, uint16(len(ext)))
	body = append(body, ext...)
	h := []byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	return append(h, body...)
}
