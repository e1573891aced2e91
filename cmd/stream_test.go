package cmd

// The synthetic stream the durability, replay-once and limits tests feed
// netmon, and what they read back from the database and the log.

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/jmoiron/sqlx"
	"github.com/netmon/netmon/store"
	"github.com/netmon/netmon/store/storetest"
)

// pkt is one frame of the synthetic stream.
type pkt struct {
	ts   time.Time
	data []byte
}

var streamBase = time.Date(2025, 1, 6, 8, 0, 0, 0, time.UTC)

// makeStream builds n windows of 10 s. Each window starts with DNS answers
// naming the servers its traffic goes to (so that a sensor started in the
// middle names them as one that saw everything), then TCP/443 traffic from
// three clients to four servers in both directions; every seventh window
// also talks to an address DNS names only in the next window, which makes
// a correction move rows from the address literal to the name.
func makeStream(t *testing.T, n, perWindow int) [][]pkt {
	t.Helper()
	clients := []netip.Addr{netip.MustParseAddr("192.168.1.20"), netip.MustParseAddr("192.168.1.21"), netip.MustParseAddr("192.168.1.22")}
	servers := []netip.Addr{netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2"), netip.MustParseAddr("203.0.113.3"), netip.MustParseAddr("203.0.113.4")}
	names := []string{"video.example.net", "api.example.com", "cdn.example.org", "mail.example.io"}
	guess := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}) }

	wins := make([][]pkt, n)
	for i := range n {
		start := streamBase.Add(time.Duration(i) * 10 * time.Second)
		var ps []pkt
		at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
		for j, c := range clients {
			for k, s := range servers {
				ps = append(ps, pkt{at(100 + 10*(4*j+k)), dnsAnswer(t, c, names[k], s)})
			}
		}
		if i%7 == 4 { // the name of the previous window's unnamed address
			ps = append(ps, pkt{at(300), dnsAnswer(t, clients[0], fmt.Sprintf("late%d.example.net", i-1), guess(i-1))})
		}
		for k := range perWindow {
			c, s := clients[k%3], servers[(k+i)%4]
			if i%7 == 3 && k%5 == 0 {
				s = guess(i)
			}
			if i%7 == 4 && k%5 == 0 {
				s = guess(i - 1)
			}
			size := 40 + (k*37+i*11)%1200
			ps = append(ps, pkt{at(500 + k*9000/perWindow), tcpFrame(t, c, s, k%2 == 0, size)})
		}
		wins[i] = ps
	}
	return wins
}

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ether() *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
}

func dnsAnswer(t *testing.T, client netip.Addr, name string, addr netip.Addr) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{192, 168, 1, 1}, DstIP: client.AsSlice()}
	udp := &layers.UDP{SrcPort: 53, DstPort: 40000}
	_ = udp.SetNetworkLayerForChecksum(ip)
	dns := &layers.DNS{ID: 7, QR: true, OpCode: layers.DNSOpCodeQuery, RD: true, RA: true,
		Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
		Answers:   []layers.DNSResourceRecord{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 300, IP: addr.AsSlice()}},
	}
	return serialize(t, ether(), ip, udp, dns)
}

func tcpFrame(t *testing.T, client, server netip.Addr, up bool, payload int) []byte {
	src, dst, sp, dp := client, server, layers.TCPPort(50000), layers.TCPPort(443)
	if !up {
		src, dst, sp, dp = server, client, 443, 50000
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	tcp := &layers.TCP{SrcPort: sp, DstPort: dp, Seq: 1000, ACK: true, Window: 1000}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	return serialize(t, ether(), ip, tcp, gopacket.Payload(make([]byte, payload)))
}

func writeStream(t *testing.T, wins [][]pkt) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stream.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, ps := range wins {
		for _, p := range ps {
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: len(p.data)}, p.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	return path
}

// proc is `netmon replay -` fed by the test.
type proc struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	pw    *pcapgo.Writer
	log   *syncBuffer
	done  chan struct{}
	code  int
}

func startReplay(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(netmonBinary(t), append([]string{"replay", "--no-ptr"}, append(args, "-")...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, stdin: stdin, log: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		if err != nil && p.code == 0 {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	p.pw = pcapgo.NewWriter(stdin)
	if err := p.pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	return p
}

// feed writes windows [from, to) to the process, spread evenly over per
// each, calling hook (if any) before each window.
func (p *proc) feed(wins [][]pkt, from, to int, per time.Duration, hook func(i int)) {
	p.t.Helper()
	for i := from; i < to; i++ {
		if hook != nil {
			hook(i)
		}
		ps := wins[i]
		gap := per / time.Duration(len(ps))
		// On a schedule rather than by sleeping a gap each, so that the
		// pace holds however long each write and sleep take.
		next := time.Now()
		for _, x := range ps {
			if err := p.pw.WritePacket(gopacket.CaptureInfo{Timestamp: x.ts, CaptureLength: len(x.data), Length: len(x.data)}, x.data); err != nil {
				p.t.Fatalf("feed window %d: %v\n%s", i, err, p.log.String())
			}
			next = next.Add(gap)
			time.Sleep(time.Until(next))
		}
	}
}

// wait closes the input and waits for the exit status.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("netmon did not exit within %s:\n%s", timeout, p.log.String())
	}
	return p.code
}

// logValue is the value of key in the last log line with message msg.
func logValue(t *testing.T, log, msg, key string) string {
	t.Helper()
	var val string
	found := false
	re := regexp.MustCompile(`\b` + regexp.QuoteMeta(key) + `=("(?:[^"\\]|\\.)*"|\S+)`)
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "msg="+msg+" ") && !strings.Contains(line, `msg="`+msg+`"`) {
			continue
		}
		if m := re.FindStringSubmatch(line); m != nil {
			val, found = strings.Trim(m[1], `"`), true
		}
	}
	if !found {
		t.Fatalf("no log line %q with %s=:\n%s", msg, key, log)
	}
	return val
}

func logInt(t *testing.T, log, msg, key string) int {
	t.Helper()
	n, err := strconv.Atoi(logValue(t, log, msg, key))
	if err != nil {
		t.Fatalf("%s %s: %v", msg, key, err)
	}
	return n
}

// dnsRow is one dns_records row without its agent.
type dnsRow struct {
	TS       time.Time `db:"ts"`
	IPAddr   string    `db:"ip_addr"`
	Domain   string    `db:"domain"`
	Definite bool      `db:"is_definite"`
	Source   string    `db:"source"`
}

func namesOf(t *testing.T, db *sqlx.DB, agent string) []dnsRow {
	t.Helper()
	var rows []dnsRow
	if err := db.Select(&rows, `SELECT ts, ip_addr, domain, is_definite, source FROM dns_records WHERE agent = ? ORDER BY ip_addr`, agent); err != nil {
		t.Fatal(err)
	}
	return rows
}

// sameAsClean compares an agent's rows, and names, with the clean run's.
// A sensor that restarted learns its names again: their ts is then when
// the new process learned them, so learnedTS false leaves ts out.
func sameAsClean(t *testing.T, db *sqlx.DB, agent string, learnedTS bool) {
	t.Helper()
	want, got := stripAgent(rowsOf(t, db, "clean")), stripAgent(rowsOf(t, db, agent))
	if len(want) == 0 {
		t.Fatal("the clean run wrote no rows")
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rows of %s differ from the clean run's (-clean +%s):\n%s", agent, agent, d)
	}
	wantN, gotN := namesOf(t, db, "clean"), namesOf(t, db, agent)
	if !learnedTS {
		for i := range wantN {
			wantN[i].TS = time.Time{}
		}
		for i := range gotN {
			gotN[i].TS = time.Time{}
		}
	}
	if len(wantN) == 0 {
		t.Fatal("the clean run learned no names")
	}
	if d := cmp.Diff(wantN, gotN); d != "" {
		t.Errorf("names of %s differ from the clean run's (-clean +%s):\n%s", agent, agent, d)
	}
}

func sum(rows []dbRow) (packets, bytes uint64) {
	for _, r := range rows {
		packets += r.Count
		bytes += r.Bytes
	}
	return
}

// privateDB starts a private server with a migrated database "netmon" and
// replays file into it as agent clean, at full speed, for reference.
func privateDB(t *testing.T, file string) (*storetest.Server, string, *sqlx.DB) {
	t.Helper()
	srv := storetest.StartPrivateServer(t)
	dsn := srv.NewDB("netmon")
	netmon(t, "migrate", "--dsn", dsn).mustSucceed(t)
	netmon(t, "replay", "--dsn", dsn, "--agent", "clean", "--no-ptr", "--state-dir", t.TempDir(), file).mustSucceed(t)
	return srv, dsn, openDB(t, dsn)
}

func spoolFiles(t *testing.T, stateDir, agent string) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(store.SpoolDir(stateDir, agent), "*.win"))
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

// syncBuffer collects a process's output while the test polls it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// isCounted says whether netmon counts a frame of the synthetic stream:
// everything but the DNS answers.
func isCounted(p pkt) bool {
	return len(p.data) > 14+20 && p.data[14+9] == 6 // IPv4 protocol TCP
}

func stripAgent(rows []dbRow) []dbRow {
	out := make([]dbRow, len(rows))
	for i, r := range rows {
		r.Agent = ""
		out[i] = r
	}
	return out
}
