package resolver

import (
	_ "embed"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"
)

// Nickname maps a domain to the service a person would call it:
// t8.dropbox.com → Dropbox, r3---sn-x.googlevideo.com → YouTube. Keywords
// match whole labels, and the leftmost (most specific) matching label wins.
// Without a keyword the answer is the registrable name's first label with
// its first letter upper-cased (news.bbc.co.uk → Bbc). An IP literal, an
// empty name or one the Public Suffix List cannot place is returned as it
// is. The result is always valid UTF-8.
func Nickname(domain string) string {
	nick, _ := Named(domain)
	return nick
}

// Named is Nickname with where the nickname came from: the catalogue, the
// domain's label, or the name itself when it is an address, empty or
// beyond the Public Suffix List.
func Named(domain string) (string, NickSource) {
	d := strings.TrimSuffix(strings.ToLower(domain), ".")
	if d == "" {
		return strings.ToValidUTF8(domain, "\uFFFD"), NickFromAddress
	}
	if ipLiteral(d) {
		return strings.ToValidUTF8(domain, "\uFFFD"), NickFromAddress
	}
	if encryptedDNS(d) {
		return NickDoH, NickFromCatalogue
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(d)
	regStart := -1
	if err == nil {
		regStart = len(d) - len(reg)
	}
	if nick := byRegistrable(d, regStart); nick != "" {
		return nick, NickFromCatalogue
	}
	// The registrable label names the organisation that owns the name, so
	// it wins; CDN labels deeper in the name (sha2.san.akam.nflximg.net is
	// Netflix's, served by Akamai) count only when it names no service.
	if regStart >= 0 {
		label, _, _ := strings.Cut(d[regStart:], ".")
		if nick, _ := keyword(label); nick != "" {
			return nick, NickFromCatalogue
		}
	}
	for off := 0; off < len(d); {
		label, _, _ := strings.Cut(d[off:], ".")
		if nick, anywhere := keyword(label); nick != "" && anywhere {
			return nick, NickFromCatalogue
		}
		off += len(label) + 1
	}
	if err != nil {
		return strings.ToValidUTF8(domain, "\uFFFD"), NickFromLabel
	}
	first, _, _ := strings.Cut(reg, ".")
	first = strings.ToValidUTF8(first, "\uFFFD")
	r, n := utf8.DecodeRuneInString(first)
	return string(unicode.ToUpper(r)) + first[n:], NickFromLabel
}

// dohList is the public encrypted-DNS resolvers, one name a line; a
// line starting with "." stands for every name under it.
//
//go:embed doh.txt
var dohList string

// dohHosts and dohSuffixes are dohList read once.
var dohHosts, dohSuffixes = func() (map[string]bool, map[string]bool) {
	hosts, suffixes := map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(dohList, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#':
		case line[0] == '.':
			suffixes[line[1:]] = true
		default:
			hosts[line] = true
		}
	}
	return hosts, suffixes
}()

// encryptedDNS reports whether d names a public DNS-over-HTTPS resolver
// (doh.txt). Traffic to it means a device resolves names past the local
// DNS, which a user wants to see as such rather than as "Google". The same
// names serve DNS over TLS on port 853; the learn stage nicknames those
// flows by their port.
func encryptedDNS(d string) bool {
	if dohHosts[d] {
		return true
	}
	for i := 0; i < len(d); i++ {
		if d[i] == '.' && dohSuffixes[d[i+1:]] {
			return true
		}
	}
	return false
}

// registrable names the services whose names are too short or too common
// to match as a label: t.co is Twitter but t.me is Telegram, me.com is
// Apple but about.me is not. The key is the registrable name.
var registrable = map[string]string{
	"t.co": "Twitter", "x.com": "Twitter",
	"t.me": "Telegram", "telegram.me": "Telegram", "telegram.org": "Telegram", "telesco.pe": "Telegram", "tdesktop.com": "Telegram",
	"me.com": "Apple", "apple.co": "Apple",
	"android.com": "Google", "goo.gl": "Google", "g.co": "Google", "g.page": "Google",
	"fb.me": "Facebook", "fb.com": "Facebook", "fb.watch": "Facebook", "meta.com": "Facebook",
	"wa.me":   "WhatsApp",
	"amzn.to": "Amazon", "a.co": "Amazon", "amzn.com": "Amazon",
	"aka.ms": "Microsoft", "1drv.ms": "Microsoft",
	"lnkd.in":      "LinkedIn",
	"db.tt":        "Dropbox",
	"spoti.fi":     "Spotify",
	"redd.it":      "Reddit",
	"nflx.it":      "Netflix",
	"linecorp.com": "LINE", "line.me": "LINE",
}

// underParent names the services whose hosts sit under their parent
// company's domain: LINE's downloads and stickers under naver.jp.
var underParent = map[string]string{
	"line.naver.jp":     "LINE",
	"line-cdn.naver.jp": "LINE",
}

// brandTLD names the big services that run their own top-level domain:
// blog.google, www.netflix, aws.amazon.
func brandTLD(tld string) string {
	switch tld {
	case "google", "android", "chrome", "gmail", "goog", "gle":
		// Not .app, .dev, .page: Google runs them, but for everyone.
		return "Google"
	case "youtube":
		return "YouTube"
	case "amazon", "prime", "kindle", "audible", "alexa":
		return "Amazon"
	case "aws":
		return "AWS"
	case "apple", "itunes":
		return "Apple"
	case "microsoft", "windows", "xbox", "bing", "office", "skype", "azure", "hotmail":
		return "Microsoft"
	case "netflix":
		return "Netflix"
	case "playstation", "sony":
		return "PlayStation"
	}
	return ""
}

// byRegistrable names d by its whole registrable name, its parent-company
// suffix or its brand TLD; "" when none applies. regStart is where the
// registrable name starts in d (-1: unknown).
func byRegistrable(d string, regStart int) string {
	if regStart >= 0 {
		if nick := registrable[d[regStart:]]; nick != "" {
			return nick
		}
	}
	for i := -1; i < len(d); i++ {
		if i < 0 || d[i] == '.' {
			if nick := underParent[d[i+1:]]; nick != "" {
				return nick
			}
		}
	}
	if dot := strings.LastIndexByte(d, '.'); dot >= 0 {
		return brandTLD(d[dot+1:])
	}
	return ""
}

// ipLiteral reports whether d is an IP address. The cheap test first keeps
// ParseAddr, whose errors allocate, away from ordinary names.
func ipLiteral(d string) bool {
	if !strings.Contains(d, ":") && strings.Trim(d, "0123456789.") != "" {
		return false
	}
	_, err := netip.ParseAddr(d)
	return err == nil
}

// keyword returns the service a label names. Distinctive labels count
// anywhere in a name; common words (live, office, line, zoom, x, ...) only
// as the registrable label, so that live.bbc.co.uk is not Microsoft and
// zoom.example.com is not Zoom. A switch rather than a map keeps the
// table immutable and the lookup free of allocations.
func keyword(label string) (nick string, anywhere bool) {
	switch label {
	// Common words: only as the registrable label.
	case "live", "office", "windows", "outlook", "bing", "aka", "teams", "hotmail", "1drv":
		return "Microsoft", false
	case "line", "line-apps", "line-scdn":
		return "LINE", label != "line"
	case "zoom":
		return "Zoom", false
	case "apple":
		return "Apple", true
	case "max":
		return "Max", false
	case "signal":
		return "Signal", false
	case "ring":
		return "Ring", false
	case "scdn":
		return "Spotify", false
	case "redd":
		return "Reddit", false
	case "messenger", "fb", "meta":
		return "Facebook", false
	case "a2z":
		return "Amazon", false
	case "steam":
		return "Steam", false
	case "disney":
		return "Disney+", false
	case "discord":
		return "Discord", false
	case "duo", "android":
		return "Google", false
	}
	switch label {
	case "dropbox", "dropboxapi", "dropboxusercontent", "dropboxstatic":
		return "Dropbox", true
	case "googlevideo", "youtube", "ytimg", "youtu", "youtube-nocookie", "youtubei", "ggpht":
		return "YouTube", true
	case "google", "googleapis", "gstatic", "1e100", "googleusercontent", "googlesyndication",
		"googleadservices", "doubleclick", "google-analytics", "googletagmanager", "gvt1", "gvt2", "gvt3",
		"gmail", "firebaseio", "firebase", "app-measurement", "crashlytics", "googlezip",
		"googledomains", "googleapis-cn", "chromium", "chrome", "withgoogle", "googlecode":
		return "Google", true
	case "amazonaws", "aws", "cloudfront", "awsstatic", "amazontrust":
		return "AWS", true
	case "amazon", "media-amazon", "ssl-images-amazon", "images-amazon", "amazonvideo", "primevideo",
		"aiv-cdn", "aiv-delivery", "alexa", "amazonalexa", "kindle", "audible", "amazon-adsystem":
		return "Amazon", true
	case "icloud", "mzstatic", "aaplimg", "apple-dns", "cdn-apple", "icloud-content", "itunes",
		"apple-cloudkit", "apple-mapkit", "appleid", "applemusic":
		return "Apple", true
	case "microsoft", "msn", "azure", "msedge", "skype", "xbox", "xboxlive", "office365", "microsoftonline",
		"msftconnecttest", "msftncsi", "windowsupdate", "azureedge", "azurefd", "sharepoint", "onedrive",
		"live-int", "msecnd", "s-microsoft", "visualstudio", "msauth", "msftauth", "azurewebsites",
		"trafficmanager", "microsoftapp", "officeapps", "office365-net", "bingapis", "linkedin", "licdn",
		"microsoftstream", "hockeyapp":
		if label == "linkedin" || label == "licdn" {
			return "LinkedIn", true
		}
		return "Microsoft", true
	case "twitter", "twimg", "twttr":
		return "Twitter", true
	case "slack", "slack-edge", "slack-msgs", "slack-imgs", "slack-files":
		return "Slack", true
	case "facebook", "fbcdn", "fbsbx", "facebook-hardware", "oculus":
		return "Facebook", true
	case "instagram", "cdninstagram":
		return "Instagram", true
	case "whatsapp":
		return "WhatsApp", true
	case "netflix", "nflxvideo", "nflximg", "nflxext", "nflxso":
		return "Netflix", true
	case "spotify", "spotifycdn", "spotilocal":
		return "Spotify", true
	case "tiktok", "tiktokv", "tiktokcdn", "tiktokcdn-us", "byteoversea", "ibytedtos", "ibyteimg",
		"musical", "bytedance", "tiktokw":
		return "TikTok", true
	case "zoomgov", "zoomcdn":
		return "Zoom", true
	case "github", "githubusercontent", "githubassets", "githubapp", "ghcr":
		return "GitHub", true
	case "cloudflare", "cloudflare-dns", "cloudflareinsights", "cloudflarestream", "cloudflare-quic":
		return "Cloudflare", true
	case "akamai", "akamaiedge", "akamaihd", "akamaized", "akamaitechnologies", "edgekey", "edgesuite",
		"akadns", "akamaistream", "akam":
		return "Akamai", true
	case "fastly", "fastlylb":
		return "Fastly", true
	case "discordapp", "discordcdn":
		return "Discord", true
	case "twitch", "ttvnw", "jtvnw", "twitchcdn":
		return "Twitch", true
	case "reddit", "redditmedia", "redditstatic":
		return "Reddit", true
	case "pinterest", "pinimg":
		return "Pinterest", true
	case "snapchat", "snapkit", "sc-cdn", "snap-dev":
		return "Snapchat", true
	case "telegram", "telegram-cdn":
		return "Telegram", true
	case "steampowered", "steamcommunity", "steamstatic", "steamcontent", "steamserver":
		return "Steam", true
	case "playstation", "sonyentertainmentnetwork", "playstation-net":
		return "PlayStation", true
	case "nintendo":
		return "Nintendo", true
	case "epicgames", "unrealengine":
		return "Epic Games", true
	case "roblox", "rbxcdn":
		return "Roblox", true
	case "disneyplus", "bamgrid", "dssott", "disney-plus":
		return "Disney+", true
	case "hulu", "hulustream":
		return "Hulu", true
	case "hbomax", "hbo":
		return "Max", true
	case "wikipedia", "wikimedia":
		return "Wikipedia", true
	case "mozilla", "firefox", "mozaws":
		return "Mozilla", true
	case "ubuntu", "canonical", "snapcraft":
		return "Ubuntu", true
	case "samsung", "samsungcloud", "samsungapps", "samsungosp", "samsungqbe":
		return "Samsung", true
	case "roku":
		return "Roku", true
	case "sonos":
		return "Sonos", true
	case "kakao", "kakaocdn", "daum":
		return "Kakao", true
	case "wechat", "weixin", "qq", "qpic", "gtimg", "tencent":
		return "Tencent", true
	case "dingtalk":
		return "DingTalk", true
	case "yahoo", "yimg":
		return "Yahoo", true
	case "openai", "chatgpt", "oaistatic", "oaiusercontent":
		return "OpenAI", true
	case "paypal", "paypalobjects":
		return "PayPal", true
	case "duckduckgo":
		return "DuckDuckGo", true
	case "webex":
		return "Webex", true
	case "signalapp":
		return "Signal", true
	}
	return "", false
}
