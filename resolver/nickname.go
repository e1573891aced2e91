package resolver

import (
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
	d := strings.TrimSuffix(strings.ToLower(domain), ".")
	if d == "" {
		return strings.ToValidUTF8(domain, "\uFFFD")
	}
	if ipLiteral(d) {
		return strings.ToValidUTF8(domain, "\uFFFD")
	}
	if encryptedDNS(d) {
		return NickDoH
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(d)
	regStart := -1
	if err == nil {
		regStart = len(d) - len(reg)
	}
	// The registrable label names the organisation that owns the name, so
	// it wins; CDN labels deeper in the name (sha2.san.akam.nflximg.net is
	// Netflix's, served by Akamai) count only when it names no service.
	if regStart >= 0 {
		label, _, _ := strings.Cut(d[regStart:], ".")
		if nick, _ := keyword(label); nick != "" {
			return nick
		}
	}
	for off := 0; off < len(d); {
		label, _, _ := strings.Cut(d[off:], ".")
		if nick, anywhere := keyword(label); nick != "" && anywhere {
			return nick
		}
		off += len(label) + 1
	}
	if err != nil {
		return strings.ToValidUTF8(domain, "\uFFFD")
	}
	first, _, _ := strings.Cut(reg, ".")
	first = strings.ToValidUTF8(first, "\uFFFD")
	r, n := utf8.DecodeRuneInString(first)
	return string(unicode.ToUpper(r)) + first[n:]
}

// encryptedDNS reports whether d names a well-known public DNS-over-HTTPS
// resolver. Traffic to it means a device resolves names past the local
// DNS, which a user wants to see as such rather than as "Google". The same
// names serve DNS over TLS on port 853; the learn stage nicknames those
// flows by their port.
func encryptedDNS(d string) bool {
	switch d {
	case "dns.google", "dns.google.com", "dns64.dns.google", "one.one.one.one",
		"dns.quad9.net", "dns9.quad9.net", "dns10.quad9.net", "dns11.quad9.net", "dns12.quad9.net",
		"doh.opendns.com", "doh.familyshield.opendns.com", "doh.umbrella.com",
		"dns.nextdns.io", "doh.cleanbrowsing.org", "dns.adguard.com", "dns.adguard-dns.com",
		"unfiltered.adguard-dns.com", "family.adguard-dns.com", "dns.mullvad.net", "doh.mullvad.net",
		"adblock.dns.mullvad.net", "base.dns.mullvad.net", "doh.dns.sb", "dns.alidns.com", "doh.pub",
		"dns.controld.com", "freedns.controld.com", "doh.xfinity.com", "doh.libredns.gr", "dns.twnic.tw":
		return true
	}
	// Every name under these is a resolver endpoint (a per-user or
	// per-policy one for the last three).
	for _, suffix := range []string{"cloudflare-dns.com", "cloudflare-gateway.com", "dns.nextdns.io", "dns.controld.com"} {
		if d == suffix || strings.HasSuffix(d, "."+suffix) {
			return true
		}
	}
	return false
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
	case "x", "t":
		return "Twitter", false
	case "zoom":
		return "Zoom", false
	case "me", "apple":
		return "Apple", label == "apple"
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
	case "duo":
		return "Google", false
	}
	switch label {
	case "dropbox", "dropboxapi", "dropboxusercontent", "dropboxstatic":
		return "Dropbox", true
	case "googlevideo", "youtube", "ytimg", "youtu", "youtube-nocookie", "youtubei", "ggpht":
		return "YouTube", true
	case "google", "googleapis", "gstatic", "1e100", "googleusercontent", "googlesyndication",
		"googleadservices", "doubleclick", "google-analytics", "googletagmanager", "gvt1", "gvt2", "gvt3",
		"android", "gmail", "firebaseio", "firebase", "app-measurement", "crashlytics", "googlezip",
		"googledomains", "googleapis-cn", "chromium", "chrome", "withgoogle", "googlecode":
		return "Google", true
	case "amazonaws", "aws", "cloudfront", "awsstatic", "amazontrust":
		return "AWS", true
	case "amazon", "media-amazon", "ssl-images-amazon", "images-amazon", "amazonvideo", "primevideo",
		"aiv-cdn", "aiv-delivery", "alexa", "amazonalexa", "kindle", "audible":
		return "Amazon", true
	case "icloud", "mzstatic", "aaplimg", "apple-dns", "cdn-apple", "icloud-content", "itunes",
		"apple-cloudkit", "apple-mapkit", "appleid", "applemusic":
		return "Apple", true
	case "microsoft", "msn", "azure", "msedge", "skype", "xbox", "xboxlive", "office365", "microsoftonline",
		"msftconnecttest", "msftncsi", "windowsupdate", "azureedge", "azurefd", "sharepoint", "onedrive",
		"live-int", "msecnd", "s-microsoft", "visualstudio", "msauth", "msftauth", "azurewebsites",
		"trafficmanager", "microsoftapp", "officeapps", "office365-net", "bingapis", "linkedin", "licdn":
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
	case "cloudflare", "cloudflare-dns", "cloudflareinsights", "cloudflarestream":
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
