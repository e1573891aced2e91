package capture

/*
#cgo LDFLAGS: -lpcap
#include <stdint.h>
#include <pcap/pcap.h>

// netmon_filter runs prog over n records of buf, each described by three
// words of recs (offset, captured length, wire length), and sets keep[i].
// One call per read buffer: crossing into C once per packet would cost
// more than the filter itself.
static void netmon_filter(const struct bpf_insn *prog, const unsigned char *buf,
		const uint32_t *recs, int n, uint8_t *keep) {
	for (int i = 0; i < n; i++) {
		const uint32_t *r = recs + 3 * i;
		keep[i] = bpf_filter(prog, buf + r[0], r[2], r[1]) != 0;
	}
}
*/
import "C"

import (
	"unsafe"

	"github.com/gopacket/gopacket/pcap"
)

// cFilter is a compiled BPF program run by libpcap's own interpreter
// (bpf_filter), the one libpcap applies to capture files: what the filter
// keeps is by construction what tcpdump keeps.
type cFilter struct {
	prog []C.struct_bpf_insn
}

func newCFilter(ins []pcap.BPFInstruction) *cFilter {
	prog := make([]C.struct_bpf_insn, len(ins))
	for i, in := range ins {
		prog[i] = C.struct_bpf_insn{code: C.u_short(in.Code), jt: C.u_char(in.Jt), jf: C.u_char(in.Jf), k: C.bpf_u_int32(in.K)}
	}
	return &cFilter{prog: prog}
}

// run sets keep[i] for each record i of buf that recs describes (three
// words each: offset, captured length, wire length).
func (f *cFilter) run(buf []byte, recs []uint32, keep []uint8) {
	n := len(recs) / 3
	if n == 0 || len(f.prog) == 0 {
		return
	}
	C.netmon_filter(&f.prog[0], (*C.uchar)(unsafe.Pointer(&buf[0])), (*C.uint32_t)(unsafe.Pointer(&recs[0])),
		C.int(n), (*C.uint8_t)(unsafe.Pointer(&keep[0])))
}
