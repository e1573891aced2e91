package nickname

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/publicsuffix"
)

// catalogueExamples are host names, each with the service a person would
// say it is: every rule of the catalogue (catalogue.go, doh.txt's suffix
// lines) must name at least one of them, or TestCatalogueEveryRule fails.
// Where a host could, it is one seen on the wire: the shared captures'
// expected names, or the service's well-known hosts. doh.txt's host lines
// are host names already and are their own examples.
var catalogueExamples = []struct{ host, want string }{
	// registrable: whole registrable names
	{"t.co", "Twitter"}, {"x.com", "Twitter"}, {"api.x.com", "Twitter"},
	{"t.me", "Telegram"}, {"telesco.pe", "Telegram"}, {"updates.tdesktop.com", "Telegram"},
	{"p03-mailws.me.com", "Apple"},
	{"connectivitycheck.android.com", "Google"}, {"time.android.com", "Google"}, {"goo.gl", "Google"}, {"g.co", "Google"},
	{"g.page", "Google"}, {"www.chrome.com", "Google"},
	{"fb.me", "Facebook"}, {"www.fb.com", "Facebook"}, {"fb.watch", "Facebook"}, {"www.meta.com", "Facebook"},
	{"www.messenger.com", "Facebook"},
	{"wa.me", "WhatsApp"},
	{"amzn.to", "Amazon"}, {"a.co", "Amazon"}, {"www.amzn.com", "Amazon"}, {"alexa.na.gateway.devices.a2z.com", "Amazon"},
	{"aka.ms", "Microsoft"}, {"1drv.ms", "Microsoft"}, {"www.1drv.com", "Microsoft"}, {"login.live.com", "Microsoft"},
	{"js.live.net", "Microsoft"}, {"www.office.com", "Microsoft"}, {"outlook.office.com", "Microsoft"},
	{"substrate.office.com", "Microsoft"}, {"chatsvcagg.svcs.teams.office.com", "Microsoft"}, {"res.cdn.office.net", "Microsoft"},
	{"client.wns.windows.com", "Microsoft"}, {"login.windows.net", "Microsoft"}, {"www.outlook.com", "Microsoft"},
	{"www.bing.com", "Microsoft"}, {"tse1.mm.bing.net", "Microsoft"}, {"www.msn.com", "Microsoft"},
	{"lnkd.in", "LinkedIn"}, {"db.tt", "Dropbox"}, {"spoti.fi", "Spotify"}, {"i.scdn.co", "Spotify"},
	{"i.redd.it", "Reddit"}, {"nflx.it", "Netflix"},
	{"www.linecorp.com", "LINE"}, {"line.me", "LINE"},
	{"us04web.zoom.us", "Zoom"}, {"www.zoom.com", "Zoom"},
	{"play.max.com", "Max"}, {"www.hbo.com", "Max"},
	{"chat.signal.org", "Signal"}, {"signal.group", "Signal"}, {"signal.me", "Signal"}, {"signal.art", "Signal"},
	{"api.ring.com", "Ring"}, {"www.musical.ly", "TikTok"}, {"short.weixin.qq.com", "Tencent"},
	{"edgeapi.slack.com", "Slack"},
	// underParent: a service under its parent company's domain
	{"dl.stickershop.line.naver.jp", "LINE"}, {"obs.line-cdn.naver.jp", "LINE"},
	// brandTLDs: a service's own top-level domain
	{"blog.google", "Google"}, {"developer.android", "Google"}, {"www.chrome", "Google"}, {"www.gmail", "Google"},
	{"about.goog", "Google"}, {"www.gle", "Google"}, {"www.youtube", "YouTube"},
	{"www.amazon", "Amazon"}, {"www.prime", "Amazon"}, {"www.kindle", "Amazon"}, {"www.audible", "Amazon"}, {"www.alexa", "Amazon"},
	{"aboutamazon.aws", "AWS"}, {"www.apple", "Apple"}, {"www.itunes", "Apple"},
	{"www.microsoft", "Microsoft"}, {"www.windows", "Microsoft"}, {"www.xbox", "Microsoft"}, {"www.bing", "Microsoft"},
	{"www.office", "Microsoft"}, {"www.skype", "Microsoft"}, {"www.azure", "Microsoft"}, {"www.hotmail", "Microsoft"},
	{"about.netflix", "Netflix"}, {"www.playstation", "PlayStation"}, {"www.sony", "Sony"},
	// doh.txt's suffix lines
	{"mozilla.cloudflare-dns.com", DoH}, {"security.cloudflare-dns.com", DoH},
	{"abc123.cloudflare-gateway.com", DoH}, {"abc123.dns.nextdns.io", DoH},
	{"abc123.d.adguard-dns.com", DoH}, {"p2.dns.controld.com", DoH},
	// labelTable, as the registrable name's first label only
	{"www.hotmail.com", "Microsoft"}, {"emea.ng.msg.teams-msgapi.trafficmanager.net", "Microsoft"},
	{"northeuropecns.trafficmanager.net", "Microsoft"}, {"presence.services.sfb.trafficmanager.net", "Microsoft"},
	{"www.disney.com", "Disney+"}, {"discord.com", "Discord"}, {"discord.gg", "Discord"},
	{"builder.aws.com", "AWS"}, {"www.alexa.com", "Amazon"}, {"www.kindle.com", "Amazon"}, {"www.audible.com", "Amazon"},
	{"captive.apple.com", "Apple"}, {"bag.itunes.apple.com", "Apple"}, {"www.apple.news", "Apple"},
	{"cf-st.sc-cdn.net", "Snapchat"}, {"app.snap-dev.net", "Snapchat"}, {"landscape.canonical.com", "Ubuntu"},
	// labelTable, anywhere in the name
	{"settings-win.data.microsoft.com", "Microsoft"}, {"teams.microsoft.com", "Microsoft"},
	{"quic.westus.cloudapp.azure.com", "Microsoft"}, {"k-ring.msedge.net", "Microsoft"}, {"api.teams.skype.com", "Microsoft"},
	{"www.xbox.com", "Microsoft"}, {"xsts.auth.xboxlive.com", "Microsoft"}, {"outlook.office365.com", "Microsoft"},
	{"login.microsoftonline.com", "Microsoft"}, {"www.msftconnecttest.com", "Microsoft"}, {"www.msftncsi.com", "Microsoft"},
	{"download.windowsupdate.com", "Microsoft"}, {"officecdn-microsoft-com.azureedge.net", "Microsoft"},
	{"afdxtest.z01.azurefd.net", "Microsoft"}, {"contoso.sharepoint.com", "Microsoft"}, {"api.onedrive.com", "Microsoft"},
	{"login.live-int.com", "Microsoft"}, {"az764295.vo.msecnd.net", "Microsoft"}, {"c.s-microsoft.com", "Microsoft"},
	{"app.vssps.visualstudio.com", "Microsoft"}, {"aadcdn.msauth.net", "Microsoft"}, {"aadcdn.msftauth.net", "Microsoft"},
	{"contoso.azurewebsites.net", "Microsoft"}, {"www.bingapis.com", "Microsoft"},
	{"euno-1.api.microsoftstream.com", "Microsoft"}, {"api.microsoftstream.com", "Microsoft"}, {"gate.hockeyapp.net", "Microsoft"},
	{"www.linkedin.com", "LinkedIn"}, {"static.licdn.com", "LinkedIn"},
	{"ga2.line-apps.com", "LINE"}, {"obs.line-scdn.net", "LINE"},
	{"www.zoomgov.com", "Zoom"}, {"textsecure-service.whispersystems.org", "Signal"},
	{"graph.facebook.com", "Facebook"}, {"scontent-nrt1-1.xx.fbcdn.net", "Facebook"}, {"instagram.faae1-1.fna.fbcdn.net", "Facebook"},
	{"lookaside.fbsbx.com", "Facebook"}, {"graph.oculus.com", "Facebook"},
	{"www.disneyplus.com", "Disney+"}, {"disney.api.edge.bamgrid.com", "Disney+"},
	{"vod-l3c-na1.media.dssott.com", "Disney+"}, {"prod-static.disney-plus.net", "Disney+"},
	{"cdn.discordapp.com", "Discord"},
	{"t8.dropbox.com", "Dropbox"}, {"content.dropboxapi.com", "Dropbox"}, {"dl.dropboxusercontent.com", "Dropbox"},
	{"cfl.dropboxstatic.com", "Dropbox"},
	{"r3---sn-x.googlevideo.com", "YouTube"}, {"www.youtube.com", "YouTube"},
	{"i.ytimg.com", "YouTube"}, {"youtu.be", "YouTube"}, {"www.youtube-nocookie.com", "YouTube"},
	{"youtubei.googleapis.com", "YouTube"}, {"youtube.googleapis.com", "YouTube"}, {"yt3.ggpht.com", "YouTube"},
	{"www.google.com", "Google"}, {"accounts.google.com", "Google"}, {"fonts.googleapis.com", "Google"},
	{"connectivitycheck.gstatic.com", "Google"}, {"lhr25s34-in-f14.1e100.net", "Google"},
	{"lh3.googleusercontent.com", "Google"}, {"pagead2.googlesyndication.com", "Google"},
	{"www.googleadservices.com", "Google"}, {"ad.doubleclick.net", "Google"}, {"www.google-analytics.com", "Google"},
	{"www.googletagmanager.com", "Google"}, {"redirector.gvt1.com", "Google"}, {"beacons.gvt2.com", "Google"},
	{"beacons3.gvt3.com", "Google"}, {"www.gmail.com", "Google"}, {"myapp.firebaseio.com", "Google"},
	{"www.firebase.com", "Google"}, {"myapp.firebaseapp.com", "Google"}, {"app-measurement.com", "Google"},
	{"settings.crashlytics.com", "Google"}, {"e.crashlytics.com", "Google"}, {"proxy.googlezip.net", "Google"},
	{"www.googledomains.com", "Google"}, {"www.chromium.org", "Google"}, {"events.withgoogle.com", "Google"},
	{"www.googlecode.com", "Google"},
	{"cognito-identity.us-east-1.amazonaws.com", "AWS"}, {"s3-external-2.amazonaws.com", "AWS"},
	{"ec2-52-192-72-89.ap-northeast-1.compute.amazonaws.com", "AWS"}, {"d1a2b3.cloudfront.net", "AWS"},
	{"a0.awsstatic.com", "AWS"}, {"ocsp.rootca1.amazontrust.com", "AWS"},
	{"www.amazon.com", "Amazon"}, {"aws.amazon.com", "Amazon"}, {"www.amazon.co.jp", "Amazon"}, {"m.media-amazon.com", "Amazon"},
	{"images-na.ssl-images-amazon.com", "Amazon"}, {"ecx.images-amazon.com", "Amazon"}, {"atv-ps.amazonvideo.com", "Amazon"},
	{"www.primevideo.com", "Amazon"}, {"m.aiv-cdn.net", "Amazon"}, {"s3.aiv-delivery.net", "Amazon"},
	{"api.amazonalexa.com", "Amazon"}, {"mads.amazon-adsystem.com", "Amazon"},
	{"p52-caldav.icloud.com", "Apple"}, {"gateway.icloud.com", "Apple"}, {"is1-ssl.mzstatic.com", "Apple"},
	{"captive.g.aaplimg.com", "Apple"}, {"gateway.fe.apple-dns.net", "Apple"}, {"updates-http.cdn-apple.com", "Apple"},
	{"cvws.icloud-content.com", "Apple"}, {"www.itunes.com", "Apple"}, {"api.apple-cloudkit.com", "Apple"},
	{"cdn.apple-mapkit.com", "Apple"},
	{"api.twitter.com", "Twitter"}, {"abs.twimg.com", "Twitter"}, {"twttr.com", "Twitter"},
	{"a.slack-edge.com", "Slack"}, {"wss-primary.slack-msgs.com", "Slack"}, {"slack-imgs.com", "Slack"},
	{"files.slack-files.com", "Slack"}, {"slackb.com", "Slack"},
	{"i.instagram.com", "Instagram"}, {"scontent.cdninstagram.com", "Instagram"},
	{"mmg.whatsapp.net", "WhatsApp"}, {"e13.whatsapp.net", "WhatsApp"},
	{"api-global.netflix.com", "Netflix"}, {"ipv4-c001-tyo001-ix.1.oca.nflxvideo.net", "Netflix"},
	{"art-s.nflximg.net", "Netflix"}, {"sha2.san.akam.nflximg.net", "Netflix"}, {"assets.nflxext.com", "Netflix"},
	{"occ-0-1-2.1.nflxso.net", "Netflix"},
	{"spclient.wg.spotify.com", "Spotify"}, {"i.spotifycdn.com", "Spotify"}, {"sp.spotilocal.com", "Spotify"},
	{"v16-webapp.tiktok.com", "TikTok"}, {"api16-normal-c-useast1a.tiktokv.com", "TikTok"},
	{"p16-sign-va.tiktokcdn.com", "TikTok"}, {"p16-sign.tiktokcdn-us.com", "TikTok"}, {"log.byteoversea.com", "TikTok"},
	{"lf16-tiktok-common.ibytedtos.com", "TikTok"}, {"p16-sign-sg.ibyteimg.com", "TikTok"}, {"www.bytedance.com", "TikTok"},
	{"webcast.tiktokw.us", "TikTok"},
	{"github.com", "GitHub"}, {"raw.githubusercontent.com", "GitHub"}, {"foo.github.io", "GitHub"},
	{"github.githubassets.com", "GitHub"}, {"desktop.githubapp.com", "GitHub"}, {"ghcr.io", "GitHub"},
	{"www.cloudflare.com", "Cloudflare"}, {"performance.radar.cloudflare.com", "Cloudflare"},
	{"static.cloudflareinsights.com", "Cloudflare"}, {"customer-x.cloudflarestream.com", "Cloudflare"},
	{"cloudflare-quic.com", "Cloudflare"},
	{"a1907.dscg.akamai.net", "Akamai"}, {"e1234.a.akamaiedge.net", "Akamai"}, {"fbcdn-sphotos-a.akamaihd.net", "Akamai"},
	{"audio-ak-spotify-com.akamaized.net", "Akamai"}, {"a23-45-67-89.deploy.static.akamaitechnologies.com", "Akamai"},
	{"e3130.dscg.edgekey.net", "Akamai"}, {"a1.g.edgesuite.net", "Akamai"}, {"e1.gslb.akadns.net", "Akamai"},
	{"live.akamaistream.net", "Akamai"}, {"a1-64.akam.net", "Akamai"},
	// cdnCustomerSuffixes: the customer's host inside a CDN's name
	{"captive.apple.com.edgekey.net", "Apple"}, {"www.apple.com.edgesuite.net", "Apple"},
	{"wwwds.apple.com.akadns.net", "Apple"}, {"login.live.com.akadns.net", "Microsoft"},
	{"www.fastly.com", "Fastly"}, {"dualstack.n.fastlylb.net", "Fastly"},
	{"www.twitch.tv", "Twitch"}, {"video-weaver.fra02.hls.ttvnw.net", "Twitch"}, {"static-cdn.jtvnw.net", "Twitch"},
	{"static.twitchcdn.net", "Twitch"},
	{"www.reddit.com", "Reddit"}, {"www.redditmedia.com", "Reddit"}, {"www.redditstatic.com", "Reddit"},
	{"www.pinterest.com", "Pinterest"}, {"i.pinimg.com", "Pinterest"},
	{"app-analytics-v2.snapchat.com", "Snapchat"}, {"gcp.api.snapchat.com", "Snapchat"}, {"api.snapkit.com", "Snapchat"},
	{"web.telegram.org", "Telegram"}, {"telegram.me", "Telegram"}, {"cdn4.telegram-cdn.org", "Telegram"},
	{"store.steampowered.com", "Steam"}, {"steamcommunity.com", "Steam"}, {"cdn.cloudflare.steamstatic.com", "Steam"},
	{"cache1-fra1.steamcontent.com", "Steam"}, {"cm1-fra1.steamserver.net", "Steam"}, {"cdn.steamusercontent.com", "Steam"},
	{"store.playstation.com", "PlayStation"}, {"auth.api.sonyentertainmentnetwork.com", "PlayStation"},
	{"accounts.nintendo.com", "Nintendo"},
	{"www.epicgames.com", "Epic Games"}, {"www.unrealengine.com", "Epic Games"},
	{"www.roblox.com", "Roblox"}, {"tr.rbxcdn.com", "Roblox"},
	{"www.hulu.com", "Hulu"}, {"manifest.hulustream.com", "Hulu"},
	{"play.hbomax.com", "Max"},
	{"www.wikipedia.it", "Wikipedia"}, {"upload.wikimedia.org", "Wikipedia"},
	{"www.mozilla.org", "Mozilla"}, {"accounts.firefox.com", "Mozilla"}, {"shavar.prod.mozaws.net", "Mozilla"},
	{"archive.ubuntu.com", "Ubuntu"}, {"api.snapcraft.io", "Ubuntu"},
	{"www.samsung.com", "Samsung"}, {"api.samsungcloud.com", "Samsung"}, {"hub.samsungapps.com", "Samsung"},
	{"api.samsungosp.com", "Samsung"}, {"gpm.samsungqbe.com", "Samsung"},
	{"scribe.logs.roku.com", "Roku"}, {"api.ws.sonos.com", "Sonos"},
	{"katalk.kakao.com", "Kakao"}, {"up-a.talk.kakao.com", "Kakao"}, {"t1.kakaocdn.net", "Kakao"}, {"www.daum.net", "Kakao"},
	{"www.wechat.com", "Tencent"}, {"dns.weixin.qq.com.cn", "Tencent"}, {"mmbiz.qpic.cn", "Tencent"},
	{"mat1.gtimg.com", "Tencent"}, {"cloud.tencent.com", "Tencent"},
	{"static.dingtalk.com", "DingTalk"},
	{"www.yahoo.com", "Yahoo"}, {"s.yimg.com", "Yahoo"},
	{"api.openai.com", "OpenAI"}, {"chatgpt.com", "OpenAI"}, {"cdn.oaistatic.com", "OpenAI"},
	{"files.oaiusercontent.com", "OpenAI"},
	{"www.paypal.com", "PayPal"}, {"www.paypalobjects.com", "PayPal"},
	{"duckduckgo.com", "DuckDuckGo"}, {"cisco.webex.com", "Webex"},
}

// catalogueNearMisses hold a rule's key where it must not count: a common
// word as a deeper label, a short name inside a longer one, a name a
// rule used to take wrongly. Every rule that counts only as the
// registrable name's first label needs one with it as a deeper label.
var catalogueNearMisses = []struct{ host, not string }{
	// From issue 18.
	{"t.me", "Twitter"},
	{"android.yingshi.tcclick.1kxun.com", "Google"},
	// Common words, once rules or keywords anywhere.
	{"live.bbc.co.uk", "Microsoft"}, {"live.fr.example.com", "Microsoft"}, {"office.example.com", "Microsoft"},
	{"teams.com", "Microsoft"}, {"aka.org", "Microsoft"},
	{"zoom.earth", "Zoom"}, {"zoom.example.com", "Zoom"},
	{"duo.com", "Google"}, {"api-1234.duosecurity.com", "Google"},
	{"meta.ua", "Facebook"}, {"fb.mvfst.net", "Facebook"}, {"max.de", "Max"}, {"ring.de", "Ring"}, {"signal.de", "Signal"},
	{"line.com.example.net", "LINE"}, {"x.example.com", "Twitter"}, {"musical.example.com", "TikTok"},
	{"qq.example.com", "Tencent"}, {"steam.example.com", "Steam"}, {"chrome.example.com", "Google"},
	{"msn.example.com", "Microsoft"}, {"slack.example.com", "Slack"}, {"hbo.example.com", "Max"},
	// labelTable's registrable-only labels as deeper labels.
	{"hotmail.uservoice.com", "Microsoft"},
	{"disney.fandom.com", "Disney+"}, {"discord.fandom.com", "Discord"}, {"aws.plainenglish.io", "AWS"},
	{"alexa.fandom.com", "Amazon"}, {"kindle.fandom.com", "Amazon"}, {"audible.fandom.com", "Amazon"},
	{"apple.stackexchange.com", "Apple"}, {"sc-cdn.soundcloud.com", "Snapchat"}, {"snap-dev.ubuntu.com", "Snapchat"},
	{"canonical.example.org", "Ubuntu"},
	// Registrable-only labels under a hosting service's public suffix,
	// where anyone may take the name.
	{"alexa.github.io", "Amazon"}, {"discord.js.org", "Discord"}, {"apple.blogspot.com", "Apple"},
	// Keys inside longer labels.
	{"online.com", "Microsoft"}, {"laws.com", "AWS"}, {"notcloudflare-dns.com", DoH}, {"www.xt.com", "Twitter"},
	{"example.app", "Google"}, {"www.naver.jp", "LINE"}, {"about.me", "Apple"}, {"ffmuc.net", DoH},
}

// catalogueRule is one rule of the catalogue and the service it names.
type catalogueRule struct {
	ref  ruleRef
	nick string
}

func (r catalogueRule) String() string {
	kinds := map[ruleKind]string{ruleDoHHost: "doh.txt host", ruleDoHSuffix: "doh.txt suffix", ruleRegistrable: "registrable",
		ruleParent: "underParent", ruleBrandTLD: "brandTLDs", ruleRegLabel: "labelTable (registrable label)", ruleLabel: "labelTable",
		ruleCDNCustomer: "cdnCustomerSuffixes"}
	return fmt.Sprintf("%s %q → %s", kinds[r.ref.kind], r.ref.key, r.nick)
}

// catalogueRules lists every rule of the catalogue, from its tables.
func catalogueRules(t *testing.T) []catalogueRule {
	var rules []catalogueRule
	for k, nick := range registrable {
		rules = append(rules, catalogueRule{ruleRef{ruleRegistrable, k}, nick})
	}
	for k, nick := range underParent {
		rules = append(rules, catalogueRule{ruleRef{ruleParent, k}, nick})
	}
	for k, nick := range brandTLDs {
		rules = append(rules, catalogueRule{ruleRef{ruleBrandTLD, k}, nick})
	}
	seen := map[string]string{}
	for _, s := range labelTable {
		for i, labels := range [][]string{s.regOnly, s.anywhere} {
			kind := []ruleKind{ruleRegLabel, ruleLabel}[i]
			for _, l := range labels {
				if prev, dup := seen[l]; dup {
					t.Errorf("labelTable lists %q twice (%s and %s)", l, prev, s.nick)
				}
				seen[l] = s.nick
				rules = append(rules, catalogueRule{ruleRef{kind, l}, s.nick})
			}
		}
	}
	for h := range dohHosts {
		rules = append(rules, catalogueRule{ruleRef{ruleDoHHost, h}, DoH})
	}
	for _, suf := range cdnCustomerSuffixes {
		rules = append(rules, catalogueRule{ruleRef{ruleCDNCustomer, suf}, "(the customer's)"})
	}
	for h := range dohSuffixes {
		rules = append(rules, catalogueRule{ruleRef{ruleDoHSuffix, h}, DoH})
	}
	slices.SortFunc(rules, func(a, b catalogueRule) int { return strings.Compare(a.String(), b.String()) })
	return rules
}

// matchRule is Named's catalogue step for host: the nickname and the rule.
func matchRule(host string) (string, ruleRef) {
	d := strings.TrimSuffix(strings.ToLower(host), ".")
	if inner, ref, ok := cdnCustomer(d); ok {
		nick, _ := Named(inner)
		return nick, ref
	}
	regStart := -1
	if reg, err := publicsuffix.EffectiveTLDPlusOne(d); err == nil {
		regStart = len(d) - len(reg)
	}
	return catalogue(d, regStart)
}

// TestCatalogueEveryRule walks every rule of the catalogue and fails when
// one names none of catalogueExamples (doh.txt's host lines are their own
// examples), when a registrable-only label has no near miss, and when a
// rule is dead weight: a whole registrable name its first label already
// names the same. It also checks near misses generated for every rule: a
// key inside a longer label never matches, nor does a registrable-only
// label or a whole registrable name deeper in a name.
func TestCatalogueEveryRule(t *testing.T) {
	rules := catalogueRules(t)
	fired := map[ruleRef]bool{}
	for _, ex := range catalogueExamples {
		nick, src := Named(ex.host)
		if nick != ex.want || src != FromCatalogue {
			t.Errorf("Named(%q) = %q %s, want %q from the catalogue", ex.host, nick, src, ex.want)
			continue
		}
		_, ref := matchRule(ex.host)
		fired[ref] = true
	}
	for h := range dohHosts {
		if nick, ref := matchRule(h); nick == DoH {
			fired[ref] = true
		}
	}
	nearMissed := map[string]bool{}
	for _, nm := range catalogueNearMisses {
		// The domain's label may spell the service (max.de is "Max"), but
		// the catalogue must not name it.
		if got, src := Named(nm.host); got == nm.not && src == FromCatalogue {
			t.Errorf("Named(%q) = %q from the catalogue, a near miss that must not be", nm.host, got)
			continue
		}
		d := strings.ToLower(nm.host)
		reg, _ := publicsuffix.EffectiveTLDPlusOne(d)
		for _, l := range strings.Split(strings.TrimSuffix(d, reg), ".") {
			nearMissed[l] = true
		}
	}
	for _, r := range rules {
		if !fired[r.ref] {
			t.Errorf("rule %s: no example in catalogueExamples names %s by it", r, r.nick)
		}
		if r.ref.kind == ruleRegLabel && !nearMissed[r.ref.key] {
			t.Errorf("rule %s: counts only as the registrable label, but catalogueNearMisses has no name with it deeper", r)
		}
		if r.ref.kind == ruleRegistrable {
			first, _, _ := strings.Cut(r.ref.key, ".")
			if lr, ok := labelRules[first]; ok && lr.nick == r.nick {
				t.Errorf("rule %s: dead weight, the label %q names it already", r, first)
			}
		}
		// Generated near misses: none of these may carry the rule's service.
		var misses []string
		switch r.ref.kind {
		case ruleLabel:
			misses = []string{"x" + r.ref.key + ".example.com", r.ref.key + "x.example.com"}
		case ruleRegLabel:
			misses = []string{r.ref.key + ".example.com", "www." + r.ref.key + ".example.co.uk", "x" + r.ref.key + ".com"}
		case ruleRegistrable:
			misses = []string{"x" + r.ref.key, r.ref.key + ".example.com"}
		case ruleParent:
			misses = []string{"x" + r.ref.key}
		case ruleBrandTLD:
			misses = []string{"www.example." + r.ref.key + "x"}
		case ruleDoHHost:
			if ref, _ := encryptedDNS("x" + r.ref.key); ref.kind == ruleDoHSuffix {
				t.Errorf("rule %s: dead weight, doh.txt's suffix %q holds it", r, ref.key)
			}
			misses = []string{r.ref.key + ".example.com"}
		case ruleDoHSuffix:
			misses = []string{"x" + r.ref.key}
		case ruleCDNCustomer:
			// Only a whole host name inside counts, and then as itself.
			for host, want := range map[string]string{"www.example.com." + r.ref.key: "Example",
				"e1." + r.ref.key: "Akamai", "www.example.x." + r.ref.key: "Akamai"} {
				if got := Of(host); got != want {
					t.Errorf("rule %s: Of(%q) = %q, want %q", r, host, got, want)
				}
			}
		}
		for _, m := range misses {
			if got, _ := matchRule(m); got == r.nick {
				t.Errorf("rule %s: the near miss %q is named %q too", r, m, got)
			}
		}
	}
	t.Logf("%d rules (%d in doh.txt), %d examples, %d near misses", len(rules), len(dohHosts)+len(dohSuffixes),
		len(catalogueExamples), len(catalogueNearMisses))
}

// TestCatalogueCase: the catalogue matches names whatever their case and a
// trailing dot.
func TestCatalogueCase(t *testing.T) {
	for _, ex := range catalogueExamples {
		if got := Of(strings.ToUpper(ex.host) + "."); got != ex.want {
			t.Errorf("Of(%q) = %q, want %q", strings.ToUpper(ex.host)+".", got, ex.want)
		}
	}
}

// TestDoHList keeps doh.txt tidy: lower-case host names, each once, and
// the small operators too.
func TestDoHList(t *testing.T) {
	seen := map[string]bool{}
	n := 0
	for _, line := range strings.Split(dohList, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if seen[line] {
			t.Errorf("doh.txt lists %q twice", line)
		}
		seen[line] = true
		n++
		if line != strings.ToLower(line) || strings.ContainsAny(line, " /:") {
			t.Errorf("doh.txt line %q is not a lower-case host name", line)
		}
	}
	if n < 100 {
		t.Errorf("doh.txt has %d resolvers, want the small operators too (100 or more)", n)
	}
}
