package aggregate

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/netmon/netmon/capture"
	"github.com/netmon/netmon/capture/capturetest"
	"github.com/netmon/netmon/resolver"
	"github.com/netmon/netmon/resolver/addrtable"
	"github.com/netmon/netmon/resolver/classify"
	"github.com/netmon/netmon/resolver/nickname"
	"github.com/netmon/netmon/resolver/source"
)

// replayRows runs a shared capture through the stages as netmon wires
// them (decode with the default filter, learn, resolve, windows) and
// returns every row written.
func replayRows(t *testing.T, file string) []Row {
	t.Helper()
	src, err := capture.OpenFile(filepath.Join(capturetest.Dir(t), file), capture.DefaultFilter)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tab := addrtable.New(addrtable.DefaultConfig(), addrtable.Deps{Now: func() time.Time { return time.Unix(0, 0) }})
	learner := resolver.New(resolver.DefaultConfig(), resolver.Deps{Table: tab})
	classifier := classify.New(classify.Deps{})
	w := New(DefaultConfig(), Deps{Names: tab})

	decoded := make(chan *capture.Batch, 4)
	go func() {
		_ = capture.NewDecoder(capture.DefaultDecoderConfig()).Run(context.Background(), src, decoded)
		close(decoded)
	}()
	resolved := make(chan *capture.Batch, 4)
	go func() {
		for b := range decoded {
			learner.Learn(b)
			classifier.Classify(b)
			resolved <- b
		}
		close(resolved)
	}()
	out := make(chan *Window, 1000)
	if err := w.Run(context.Background(), resolved, out); err != nil {
		t.Fatal(err)
	}
	var rows []Row
	for win := range out {
		rows = append(rows, win.Rows...)
	}
	return rows
}

// Devices that resolve names past the local DNS show up as such: DNS over
// TLS on port 853 (Android's private DNS to dns.google), and DNS over
// HTTPS to a well-known resolver (Firefox to mozilla.cloudflare-dns.com).
// Every packet of those connections, handshake included, counts there.
func TestSharedCapturesEncryptedDNS(t *testing.T) {
	for _, tt := range []struct {
		file, domain, nick string
		source             source.Source
		packets            uint64 // of the capture's flows to the resolver (tcpdump "port 853", "port 443")
	}{
		{"googledns_android10.pcap", "dns.google", nickname.DoT, source.SNI, 528},
		{"dns_doh.pcap", "mozilla.cloudflare-dns.com", nickname.DoH, source.SNI, 142},
	} {
		t.Run(tt.file, func(t *testing.T) {
			var got, other uint64
			for _, r := range replayRows(t, tt.file) {
				if r.Domain == tt.domain && r.Nickname == tt.nick && r.Source == tt.source {
					got += r.Count
				} else {
					other += r.Count
					t.Logf("other row: %+v", r)
				}
			}
			if got == 0 || got+other != tt.packets {
				t.Errorf("%d packets under %s/%s, %d elsewhere; want all %d there", got, tt.domain, tt.nick, other, tt.packets)
			}
		})
	}
}
