package capture

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// TestLiveVLANOverVeth sends every Ethernet encapsulation netmon decodes
// into one end of a veth pair and captures on the other with DefaultFilter.
// Linux moves an outer 802.1Q or 802.1ad tag into packet metadata on
// receive, so this runs the code libpcap generates for live capture, in the
// kernel, on what the kernel really sees. It needs root and a veth pair:
//
//	ip link add nm0 type veth peer name nm1 && ip link set nm0 up && ip link set nm1 up
//	NETMON_VETH=nm0,nm1 go test -run TestLiveVLANOverVeth ./capture/
func TestLiveVLANOverVeth(t *testing.T) {
	pair := strings.Split(os.Getenv("NETMON_VETH"), ",")
	if len(pair) != 2 {
		t.Skip("set NETMON_VETH=sendIf,captureIf to a veth pair to run")
	}
	tx, err := net.InterfaceByName(pair[0])
	if err != nil {
		t.Fatal(err)
	}
	src, err := OpenLive(DefaultLiveConfig(pair[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	to := &syscall.SockaddrLinklayer{Ifindex: tx.Index, Halen: 6}

	type sent struct {
		name   string
		sport  uint16
		wanted bool
	}
	var frames [][]byte
	var want []sent
	sport := uint16(20000)
	for _, lc := range linkCases() {
		if lc.lt != layers.LinkTypeEthernet {
			continue
		}
		for _, v6 := range []bool{false, true} {
			for _, proto := range []uint8{ProtoTCP, ProtoUDP} {
				for _, port := range []uint16{443, 53, 8080} {
					sport++
					f := flow{v6: v6, proto: proto, sport: sport, dport: port}
					frames = append(frames, lc.wrap(ipPacket(t, f)))
					want = append(want, sent{lc.name, sport, port != 8080})
				}
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan *Batch, 64)
	d := NewDecoder(DefaultDecoderConfig())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, src, out) }()
	time.Sleep(200 * time.Millisecond) // the handle is open; let Run start reading
	for _, f := range frames {
		if err := syscall.Sendto(fd, f, 0, to); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	close(out)
	var seen []uint16
	for b := range out {
		for _, p := range b.Packets {
			seen = append(seen, p.SrcPort)
		}
		b.Release()
	}
	for _, w := range want {
		if got := slices.Contains(seen, w.sport); got != w.wanted {
			t.Errorf("%s sport %d: captured %v, want %v", w.name, w.sport, got, w.wanted)
		}
	}
	t.Logf("sent %d frames, captured %d packets; decoder %+v", len(frames), len(seen), d.Stats())
}
