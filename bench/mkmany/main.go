// Command mkmany writes N capture files of one packet each (a TCP/443
// segment from a local client, a second apart), for bench/manyfiles.sh.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func main() {
	dir := flag.String("dir", "many", "folder to write the files to")
	n := flag.Int("n", 1000, "files to write")
	flag.Parse()
	if err := write(*dir, *n); err != nil {
		fmt.Fprintln(os.Stderr, "mkmany:", err)
		os.Exit(1)
	}
}

func write(dir string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{192, 168, 1, 23}, DstIP: net.IP{203, 0, 113, 5}}
	tcp := &layers.TCP{SrcPort: 50000, DstPort: 443, ACK: true, Window: 1000}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload(make([]byte, 100))); err != nil {
		return err
	}
	data := buf.Bytes()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%d.pcap", i)))
		if err != nil {
			return err
		}
		w := pcapgo.NewWriter(f)
		err = w.WriteFileHeader(65535, layers.LinkTypeEthernet)
		if err == nil {
			ts := base.Add(time.Duration(i) * time.Second)
			err = w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}, data)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
