package asn

import (
	"encoding/csv"
	"io"
	"os"
	"testing"
)

// wellKnownExamples give every ASN of wellKnown the organisation that
// @ip-location-db/asn names for it (2026-06) and the service a person
// would say.
var wellKnownExamples = []struct {
	asn          uint32
	org, service string
}{
	{2906, "Netflix Streaming Services Inc.", "Netflix"}, {40027, "Netflix Streaming Services Inc.", "Netflix"},
	{55095, "Netflix Inc", "Netflix"},
	{15169, "Google LLC", "Google"}, {19527, "Google LLC", "Google"}, {396982, "Google LLC", "Google"},
	{36384, "Google LLC", "Google"}, {36492, "Google, LLC", "Google"},
	{36040, "Google LLC", "YouTube"}, {43515, "Google Ireland Limited", "YouTube"}, // YouTube's own networks
	{32934, "Facebook, Inc.", "Facebook"}, {63293, "Facebook, Inc.", "Facebook"}, {54115, "Facebook Inc", "Facebook"},
	{11917, "WhatsApp", "WhatsApp"},
	{714, "Apple Inc.", "Apple"}, {6185, "Apple Inc.", "Apple"},
	{8075, "Microsoft Corporation", "Microsoft"}, {8068, "Microsoft Corporation", "Microsoft"},
	{8069, "Microsoft Corporation", "Microsoft"}, {12076, "Microsoft Corporation", "Microsoft"},
	{3598, "Microsoft Corporation", "Microsoft"},
	{16509, "Amazon.com, Inc.", "Amazon"}, {14618, "Amazon.com, Inc.", "Amazon"}, {7224, "Amazon.com, Inc.", "Amazon"},
	{8987, "Amazon Data Services Ireland Ltd", "Amazon"},
	{20940, "Akamai International B.V.", "Akamai"}, {16625, "Akamai Technologies, Inc.", "Akamai"},
	{21342, "Akamai International B.V.", "Akamai"}, {24319, "Akamai Technologies, Inc.", "Akamai"},
	{33905, "Akamai International B.V.", "Akamai"}, {34164, "Akamai International B.V.", "Akamai"},
	{35994, "Akamai Technologies, Inc.", "Akamai"}, {63949, "Akamai Technologies, Inc.", "Akamai"},
	{12222, "Akamai Technologies, Inc.", "Akamai"}, {18717, "Akamai Technologies, Inc.", "Akamai"},
	{18680, "Akamai Technologies, Inc.", "Akamai"}, {32787, "Akamai Technologies, Inc.", "Akamai"},
	{13335, "Cloudflare, Inc.", "Cloudflare"}, {209242, "Cloudflare London, LLC", "Cloudflare"},
	{394536, "Cloudflare, Inc.", "Cloudflare"},
	{54113, "Fastly, Inc.", "Fastly"},
	{19679, "Dropbox, Inc.", "Dropbox"},
	{38631, "LINE Corporation", "LINE"},
	{13414, "Twitter Inc.", "Twitter"}, {35995, "Twitter Inc.", "Twitter"}, {63179, "Twitter Inc.", "Twitter"},
	{62041, "Telegram Messenger Inc", "Telegram"}, {59930, "Telegram Messenger Inc", "Telegram"},
	{62014, "Telegram Messenger Inc", "Telegram"}, {44907, "Telegram Messenger Inc", "Telegram"},
	{211157, "Telegram Messenger Inc", "Telegram"},
	{32590, "Valve Corporation", "Steam"},
	{33353, "Sony Interactive Entertainment LLC", "PlayStation"}, {11795, "Sony Interactive Entertainment LLC.", "PlayStation"},
	{397077, "Sony Interactive Entertainment LLC.", "PlayStation"},
	{25562, "Sony Interactive Entertainment Europe Limited", "PlayStation"},
	{13989, "Sony Interactive Entertainment America LLC", "PlayStation"},
	{396986, "Bytedance Inc.", "TikTok"}, {138699, "TIKTOK PTE. LTD.", "TikTok"},
	{15133, "Edgecast Inc.", "Edgecast"},
	{45102, "Alibaba (US) Technology Co., Ltd.", "Alibaba"}, {37963, "Hangzhou Alibaba Advertising Co.,Ltd.", "Alibaba"},
	{24429, "Zhejiang Taobao Network Co.,Ltd", "Alibaba"},
	{132203, "Shenzhen Tencent Computer Systems Company Limited", "Tencent"},
	{45090, "Shenzhen Tencent Computer Systems Company Limited", "Tencent"},
	{30103, "Zoom Video Communications, Inc", "Zoom"},
	{46489, "Twitch Interactive Inc.", "Twitch"},
	{36459, "GitHub, Inc.", "GitHub"},
	{14907, "Wikimedia Foundation Inc.", "Wikipedia"},
	{10310, "Oath Holdings Inc.", "Yahoo"},
	{22822, "Limelight Networks, Inc.", "Limelight"},
	{60068, "Datacamp Limited", "CDN77"}, // CDN77 is DataCamp's CDN
	{2635, "Automattic, Inc", "Automattic"},
}

// TestWellKnownEveryASN fails when an ASN of wellKnown has no example, or
// names another service than its example says.
func TestWellKnownEveryASN(t *testing.T) {
	has := map[uint32]bool{}
	for _, ex := range wellKnownExamples {
		if has[ex.asn] {
			t.Errorf("AS%d has two examples", ex.asn)
		}
		has[ex.asn] = true
		if got := Service(Owner{ASN: ex.asn, Org: ex.org}); got != ex.service {
			t.Errorf("Service(AS%d %q) = %q, want %q", ex.asn, ex.org, got, ex.service)
		}
	}
	for n, s := range wellKnown {
		if !has[n] {
			t.Errorf("wellKnown AS%d → %s has no example in wellKnownExamples", n, s)
		}
	}
}

// TestWellKnownInNPM checks the examples against @ip-location-db/asn: each
// ASN is announced there by the organisation the example names, so a
// wrong number (a typo, a network that changed hands) shows. It found
// AS11917 under Zoom (it is WhatsApp's) and AS62597 under WhatsApp (IBM's).
func TestWellKnownInNPM(t *testing.T) {
	orgs := map[uint32]map[string]bool{}
	for _, p := range npmASN(t) {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		r := csv.NewReader(f)
		r.ReuseRecord = true
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			var n uint32
			for _, c := range rec[2] {
				n = n*10 + uint32(c-'0')
			}
			if orgs[n] == nil {
				orgs[n] = map[string]bool{}
			}
			orgs[n][rec[3]] = true
		}
		f.Close()
	}
	for _, ex := range wellKnownExamples {
		switch {
		case orgs[ex.asn] == nil:
			t.Errorf("AS%d (%s) is not in @ip-location-db/asn", ex.asn, ex.service)
		case !orgs[ex.asn][ex.org]:
			t.Errorf("AS%d is %v in @ip-location-db/asn, not %q", ex.asn, orgs[ex.asn], ex.org)
		}
	}
}
