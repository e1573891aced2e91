package nickname

import (
	"strings"

	"golang.org/x/net/publicsuffix"
)

// The service catalogue is data: the tables below and doh.txt, nothing
// else. TestCatalogueEveryRule walks every rule of them and fails when one
// has no example host name that it names, so a rule added here without a
// test case fails the build's tests.

// ruleKind is which table a catalogue rule is in.
type ruleKind uint8

const (
	ruleNone        ruleKind = iota
	ruleDoHHost              // doh.txt: a resolver's host name
	ruleDoHSuffix            // doh.txt: every name under a suffix
	ruleRegistrable          // registrable: a whole registrable name
	ruleParent               // underParent: a suffix under the parent company's domain
	ruleBrandTLD             // brandTLDs: a service's own top-level domain
	ruleRegLabel             // labelRules, as the registrable name's first label only
	ruleLabel                // labelRules, a label anywhere in the name
	ruleCDNCustomer          // cdnCustomerSuffixes: a customer's host name inside a CDN's
)

// ruleRef names the rule that named a domain: its table and key.
type ruleRef struct {
	kind ruleKind
	key  string
}

// registrable names services by their whole registrable name: names too
// short or too common to match as a label (t.co is Twitter but t.me is
// Telegram; me.com is Apple but about.me is not), and the few domains of a
// service whose first label is a common word (live.com, zoom.us).
var registrable = map[string]string{
	"t.co": "Twitter", "x.com": "Twitter",
	"t.me": "Telegram", "telesco.pe": "Telegram", "tdesktop.com": "Telegram",
	"me.com":      "Apple",
	"android.com": "Google", "goo.gl": "Google", "g.co": "Google", "g.page": "Google", "chrome.com": "Google",
	"fb.me": "Facebook", "fb.com": "Facebook", "fb.watch": "Facebook", "meta.com": "Facebook", "messenger.com": "Facebook",
	"wa.me":   "WhatsApp",
	"amzn.to": "Amazon", "a.co": "Amazon", "amzn.com": "Amazon", "a2z.com": "Amazon",
	"aka.ms": "Microsoft", "1drv.ms": "Microsoft", "1drv.com": "Microsoft",
	"live.com": "Microsoft", "live.net": "Microsoft", "office.com": "Microsoft", "office.net": "Microsoft",
	"windows.com": "Microsoft", "windows.net": "Microsoft", "outlook.com": "Microsoft",
	"bing.com": "Microsoft", "bing.net": "Microsoft", "msn.com": "Microsoft",
	"lnkd.in":  "LinkedIn",
	"db.tt":    "Dropbox",
	"spoti.fi": "Spotify", "scdn.co": "Spotify",
	"redd.it":      "Reddit",
	"nflx.it":      "Netflix",
	"linecorp.com": "LINE", "line.me": "LINE",
	"zoom.us": "Zoom", "zoom.com": "Zoom",
	"max.com":    "Max",
	"signal.org": "Signal", "signal.group": "Signal", "signal.me": "Signal", "signal.art": "Signal",
	"ring.com":   "Ring",
	"musical.ly": "TikTok",
	"qq.com":     "Tencent",
	"hbo.com":    "Max",
	"slack.com":  "Slack",
}

// underParent names the services whose hosts sit under their parent
// company's domain: LINE's downloads and stickers under naver.jp.
var underParent = map[string]string{
	"line.naver.jp":     "LINE",
	"line-cdn.naver.jp": "LINE",
}

// brandTLDs names the big services that run their own top-level domain:
// blog.google, about.netflix. Not .app, .dev, .page: Google runs them, but
// for everyone.
var brandTLDs = map[string]string{
	"google": "Google", "android": "Google", "chrome": "Google", "gmail": "Google", "goog": "Google", "gle": "Google",
	"youtube": "YouTube",
	"amazon":  "Amazon", "prime": "Amazon", "kindle": "Amazon", "audible": "Amazon", "alexa": "Amazon",
	"aws":   "AWS",
	"apple": "Apple", "itunes": "Apple",
	"microsoft": "Microsoft", "windows": "Microsoft", "xbox": "Microsoft", "bing": "Microsoft", "office": "Microsoft",
	"skype": "Microsoft", "azure": "Microsoft", "hotmail": "Microsoft",
	"netflix":     "Netflix",
	"playstation": "PlayStation",
	"sony":        "Sony",
}

// cdnCustomerSuffixes are the CDN names that hold their customer's host
// name whole: captive.apple.com.edgekey.net is Apple's captive.apple.com
// served by Akamai, and a person says Apple. Such a name is named as the
// customer's host (which may get its domain's label); a name without a
// customer's host in it (e1234.dscb.akamaiedge.net) by the CDN's label.
var cdnCustomerSuffixes = []string{"edgekey.net", "edgesuite.net", "akadns.net"}

// cdnCustomer returns the customer's host name inside d, a name under one
// of cdnCustomerSuffixes, when what precedes the suffix is a host name
// registered under an ICANN suffix.
func cdnCustomer(d string) (string, ruleRef, bool) {
	for _, suf := range cdnCustomerSuffixes {
		if len(d) <= len(suf)+1 || d[len(d)-len(suf)-1] != '.' || d[len(d)-len(suf):] != suf {
			continue
		}
		inner := d[:len(d)-len(suf)-1]
		if _, err := publicsuffix.EffectiveTLDPlusOne(inner); err != nil {
			return "", ruleRef{}, false
		}
		if _, icann := publicsuffix.PublicSuffix(inner); !icann {
			return "", ruleRef{}, false
		}
		return inner, ruleRef{ruleCDNCustomer, suf}, true
	}
	return "", ruleRef{}, false
}

// labelRule is what a label names, and whether it does so anywhere in a
// name or only as the registrable name's first label.
type labelRule struct {
	nick     string
	anywhere bool
}

// labelTable lists the labels by service. Distinctive labels count
// anywhere in a name (googlevideo, fbcdn); words a name may hold for other
// reasons (apple, kindle, aws) only as the first label of a name
// registered under an ICANN suffix, so that apple.stackexchange.com and
// alexa.github.io are not Apple and Amazon.
var labelTable = []struct {
	nick     string
	regOnly  []string // as the registrable name's first label only
	anywhere []string
}{
	{"Microsoft", []string{"hotmail"}, []string{"microsoft", "trafficmanager", "azure", "msedge", "skype", "xbox", "xboxlive",
		"office365", "microsoftonline", "msftconnecttest", "msftncsi", "windowsupdate", "azureedge", "azurefd", "sharepoint",
		"onedrive", "live-int", "msecnd", "s-microsoft", "visualstudio", "msauth", "msftauth", "azurewebsites",
		"bingapis", "microsoftstream", "hockeyapp"}},
	{"LinkedIn", nil, []string{"linkedin", "licdn"}},
	{"LINE", nil, []string{"line-apps", "line-scdn"}},
	{"Zoom", nil, []string{"zoomgov"}},
	{"Signal", nil, []string{"whispersystems"}},
	{"Facebook", nil, []string{"facebook", "fbcdn", "fbsbx", "oculus"}},
	{"Disney+", []string{"disney"}, []string{"disneyplus", "bamgrid", "dssott", "disney-plus"}},
	{"Discord", []string{"discord"}, []string{"discordapp"}},
	{"Dropbox", nil, []string{"dropbox", "dropboxapi", "dropboxusercontent", "dropboxstatic"}},
	{"YouTube", nil, []string{"googlevideo", "youtube", "ytimg", "youtu", "youtube-nocookie", "youtubei", "ggpht"}},
	{"Google", nil, []string{"google", "googleapis", "gstatic", "1e100", "googleusercontent",
		"googlesyndication", "googleadservices", "doubleclick", "google-analytics", "googletagmanager", "gvt1", "gvt2",
		"gvt3", "gmail", "firebaseio", "firebase", "firebaseapp", "app-measurement", "crashlytics", "googlezip",
		"googledomains", "chromium", "withgoogle", "googlecode"}},
	{"AWS", []string{"aws"}, []string{"amazonaws", "cloudfront", "awsstatic", "amazontrust"}},
	{"Amazon", []string{"alexa", "kindle", "audible"}, []string{"amazon", "media-amazon", "ssl-images-amazon",
		"images-amazon", "amazonvideo", "primevideo", "aiv-cdn", "aiv-delivery", "amazonalexa", "amazon-adsystem"}},
	{"Apple", []string{"apple"}, []string{"icloud", "mzstatic", "aaplimg", "apple-dns", "cdn-apple", "icloud-content",
		"itunes", "apple-cloudkit", "apple-mapkit"}},
	{"Twitter", nil, []string{"twitter", "twimg", "twttr"}},
	{"Slack", nil, []string{"slack-edge", "slack-msgs", "slack-imgs", "slack-files", "slackb"}},
	{"Instagram", nil, []string{"instagram", "cdninstagram"}},
	{"WhatsApp", nil, []string{"whatsapp"}},
	{"Netflix", nil, []string{"netflix", "nflxvideo", "nflximg", "nflxext", "nflxso"}},
	{"Spotify", nil, []string{"spotify", "spotifycdn", "spotilocal"}},
	{"TikTok", nil, []string{"tiktok", "tiktokv", "tiktokcdn", "tiktokcdn-us", "byteoversea", "ibytedtos", "ibyteimg",
		"bytedance", "tiktokw"}},
	{"GitHub", nil, []string{"github", "githubusercontent", "githubassets", "githubapp", "ghcr"}},
	{"Cloudflare", nil, []string{"cloudflare", "cloudflareinsights", "cloudflarestream", "cloudflare-quic"}},
	{"Akamai", nil, []string{"akamai", "akamaiedge", "akamaihd", "akamaized", "akamaitechnologies", "edgekey",
		"edgesuite", "akadns", "akamaistream", "akam"}},
	{"Fastly", nil, []string{"fastly", "fastlylb"}},
	{"Twitch", nil, []string{"twitch", "ttvnw", "jtvnw", "twitchcdn"}},
	{"Reddit", nil, []string{"reddit", "redditmedia", "redditstatic"}},
	{"Pinterest", nil, []string{"pinterest", "pinimg"}},
	{"Snapchat", []string{"sc-cdn", "snap-dev"}, []string{"snapchat", "snapkit"}},
	{"Telegram", nil, []string{"telegram", "telegram-cdn"}},
	{"Steam", nil, []string{"steampowered", "steamcommunity", "steamstatic", "steamcontent", "steamserver", "steamusercontent"}},
	{"PlayStation", nil, []string{"playstation", "sonyentertainmentnetwork"}},
	{"Nintendo", nil, []string{"nintendo"}},
	{"Epic Games", nil, []string{"epicgames", "unrealengine"}},
	{"Roblox", nil, []string{"roblox", "rbxcdn"}},
	{"Hulu", nil, []string{"hulu", "hulustream"}},
	{"Max", nil, []string{"hbomax"}},
	{"Wikipedia", nil, []string{"wikipedia", "wikimedia"}},
	{"Mozilla", nil, []string{"mozilla", "firefox", "mozaws"}},
	{"Ubuntu", []string{"canonical"}, []string{"ubuntu", "snapcraft"}},
	{"Samsung", nil, []string{"samsung", "samsungcloud", "samsungapps", "samsungosp", "samsungqbe"}},
	{"Roku", nil, []string{"roku"}},
	{"Sonos", nil, []string{"sonos"}},
	{"Kakao", nil, []string{"kakao", "kakaocdn", "daum"}},
	{"Tencent", nil, []string{"wechat", "weixin", "qpic", "gtimg", "tencent"}},
	{"DingTalk", nil, []string{"dingtalk"}},
	{"Yahoo", nil, []string{"yahoo", "yimg"}},
	{"OpenAI", nil, []string{"openai", "chatgpt", "oaistatic", "oaiusercontent"}},
	{"PayPal", nil, []string{"paypal", "paypalobjects"}},
	{"DuckDuckGo", nil, []string{"duckduckgo"}},
	{"Webex", nil, []string{"webex"}},
}

// labelRules is labelTable by label, read once; a label listed twice is
// a bug TestCatalogueEveryRule reports.
var labelRules = func() map[string]labelRule {
	m := map[string]labelRule{}
	for _, s := range labelTable {
		for _, l := range s.regOnly {
			m[l] = labelRule{s.nick, false}
		}
		for _, l := range s.anywhere {
			m[l] = labelRule{s.nick, true}
		}
	}
	return m
}()

// catalogue names d (lower-case, no trailing dot, not an address) by the
// catalogue and says by which rule; "" when no rule applies. regStart is
// where the registrable name starts in d (-1: unknown). The order: an
// encrypted-DNS resolver, the whole registrable name, a parent company's
// suffix, a brand TLD, the registrable name's first label, then the
// leftmost label that counts anywhere. The registrable label names the
// organisation that owns the name, so it wins over CDN labels deeper in
// the name (sha2.san.akam.nflximg.net is Netflix's, served by Akamai).
func catalogue(d string, regStart int) (string, ruleRef) {
	if ref, ok := encryptedDNS(d); ok {
		return DoH, ref
	}
	if regStart >= 0 {
		if nick := registrable[d[regStart:]]; nick != "" {
			return nick, ruleRef{ruleRegistrable, d[regStart:]}
		}
	}
	for i := -1; i < len(d); i++ {
		if i < 0 || d[i] == '.' {
			if nick := underParent[d[i+1:]]; nick != "" {
				return nick, ruleRef{ruleParent, d[i+1:]}
			}
		}
	}
	if dot := strings.LastIndexByte(d, '.'); dot >= 0 {
		if nick := brandTLDs[d[dot+1:]]; nick != "" {
			return nick, ruleRef{ruleBrandTLD, d[dot+1:]}
		}
	}
	if regStart >= 0 {
		label, _, _ := strings.Cut(d[regStart:], ".")
		if r, ok := labelRules[label]; ok {
			if r.anywhere {
				return r.nick, ruleRef{ruleLabel, label}
			}
			// A common word counts only where its owner registered it
			// under a public suffix, not where anyone can take it under a
			// hosting service's (alexa.github.io, discord.js.org).
			if _, icann := publicsuffix.PublicSuffix(d); icann {
				return r.nick, ruleRef{ruleRegLabel, label}
			}
		}
	}
	for off := 0; off < len(d); {
		label, _, _ := strings.Cut(d[off:], ".")
		if r, ok := labelRules[label]; ok && r.anywhere {
			return r.nick, ruleRef{ruleLabel, label}
		}
		off += len(label) + 1
	}
	return "", ruleRef{}
}
