package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/netmon/netmon/aggregate"
	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/capture/capturetest"
	"github.com/netmon/netmon/devices"
)

// tcpOut is an Ethernet frame of TCP/443 from local 192.168.1.23 to
// 203.0.113.5.
func tcpOut(t *testing.T) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{192, 168, 1, 23}, DstIP: net.IP{203, 0, 113, 5}}
	tcp := &layers.TCP{SrcPort: 50000, DstPort: 443, ACK: true, Window: 512}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp, gopacket.Payload(make([]byte, 100))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// collect is a store stage that keeps every window.
type collect struct{ windows []*aggregate.Window }

func (c *collect) Run(_ context.Context, in <-chan *aggregate.Window) error {
	for w := range in {
		c.windows = append(c.windows, w)
	}
	return nil
}

// With Tag set, Run calls each input's Started and Read around its reading,
// in order, cuts windows at the end of every input (an InputEnd window,
// given to Tag and not to the store), and hands the store only what Tag
// lets through: the contract cmd's replay book relies on.
func TestRunInputsAndTag(t *testing.T) {
	frame := tcpOut(t)
	start := uint64(time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC).UnixNano())
	var events []string
	var mu sync.Mutex
	note := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, fmt.Sprintf(format, args...))
	}
	var inputs []Input
	for i, name := range []string{"a.pcapng", "b.pcapng"} {
		// Both files in the same 10-second window of packet time: only the
		// cut keeps them in windows of their own.
		path := filepath.Join(t.TempDir(), name)
		data := capturetest.PcapNG(layers.LinkTypeEthernet, 0,
			capturetest.Frame{Ticks: start + uint64(i)*1e9, Data: frame},
			capturetest.Frame{Ticks: start + uint64(i)*1e9 + 5e8, Data: frame})
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, Input{
			Name:    name,
			Open:    func() (capture.Source, error) { return capture.OpenFile(path, "") },
			Started: func() { note("start %s", name) },
			Read:    func(complete bool) { note("read %s %v", name, complete) },
		})
	}
	var tagged []string
	cfg := Config{
		Window: 10 * time.Second, Devices: devices.DefaultConfig(),
		Tag: func(w *aggregate.Window) bool {
			tagged = append(tagged, fmt.Sprintf("input %d end %v", w.Input, w.InputEnd))
			return !w.InputEnd
		},
	}
	out := &collect{}
	res, err := Run(context.Background(), cfg, inputs, out, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(events, []string{"start a.pcapng", "read a.pcapng true", "start b.pcapng", "read b.pcapng true"}); d != "" {
		t.Errorf("callbacks (-got +want):\n%s", d)
	}
	want := []string{"input 0 end false", "input 0 end true", "input 1 end false", "input 1 end true"}
	if d := cmp.Diff(tagged, want); d != "" {
		t.Errorf("windows given to Tag (-got +want):\n%s", d)
	}
	var stored []int
	for _, w := range out.windows {
		if w.InputEnd {
			t.Errorf("an InputEnd window of input %d reached the store", w.Input)
		}
		stored = append(stored, w.Input)
	}
	if !slices.Equal(stored, []int{0, 1}) {
		t.Errorf("windows stored, by input: %v; want [0 1]", stored)
	}
	if res.Packets != 4 || res.Frames != 4 || res.Interrupted() || len(res.InputErrs) != 0 {
		t.Errorf("result %+v; want 4 frames and packets counted, not interrupted, no errors", res)
	}
}
