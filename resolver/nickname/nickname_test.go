package nickname

import (
	"testing"
	"unicode/utf8"
)

func TestNickname(t *testing.T) {
	tests := []struct{ in, want string }{
		{"t8.dropbox.com", "Dropbox"},
		{"r3---sn-x.googlevideo.com", "YouTube"},
		{"youtube.googleapis.com", "YouTube"}, // leftmost label wins
		{"www.google.co.jp", "Google"},
		{"WWW.Google.COM.", "Google"},
		{"ec2-52-192-72-89.ap-northeast-1.compute.amazonaws.com", "AWS"},
		{"aws.amazon.com", "Amazon"}, // the registrable label wins
		{"sha2.san.akam.nflximg.net", "Netflix"},
		{"youtube.googleapis.com", "YouTube"}, // googleapis names no service by itself
		{"www.amazon.co.jp", "Amazon"},
		{"d1a2b3.cloudfront.net", "AWS"},
		{"captive.apple.com", "Apple"},
		{"p52-caldav.icloud.com", "Apple"},
		{"is1-ssl.mzstatic.com", "Apple"},
		{"login.live.com", "Microsoft"},
		{"www.office.com", "Microsoft"},
		{"settings-win.data.microsoft.com", "Microsoft"},
		{"abs.twimg.com", "Twitter"},
		{"x.com", "Twitter"},
		{"api.x.com", "Twitter"},
		{"x.example.com", "Example"}, // x counts only as the registrable label
		{"t.co", "Twitter"},
		{"edgeapi.slack.com", "Slack"},
		{"line.me", "LINE"},
		{"obs.line-scdn.net", "LINE"},
		{"online.com", "Online"},
		{"live.bbc.co.uk", "Bbc"},
		{"laws.com", "Laws"},
		{"aws.example.org", "Example"}, // aws counts only as the registrable label
		{"builder.aws.com", "AWS"},
		// Issue 18's cases.
		{"t.me", "Telegram"},
		{"android.yingshi.tcclick.1kxun.com", "1kxun"}, // "android" deep in a name is not Google
		{"www.naver.jp", "Naver"},
		{"doh.ffmuc.net", "DNS-over-HTTPS"}, // a small DoH operator
		{"ffmuc.net", "Ffmuc"},
		{"doh.li", "DNS-over-HTTPS"},
		{"example.app", "Example"},    // Google runs .app for everyone
		{"alexa.github.io", "GitHub"}, // anyone may take a name under github.io
		{"scontent-nrt1-1.xx.fbcdn.net", "Facebook"},
		{"scontent.cdninstagram.com", "Instagram"},
		{"mmg.whatsapp.net", "WhatsApp"},
		{"ipv4-c001-tyo001-ix.1.oca.nflxvideo.net", "Netflix"},
		{"audio-ak-spotify-com.akamaized.net", "Akamai"},
		{"spclient.wg.spotify.com", "Spotify"},
		{"v16-webapp.tiktok.com", "TikTok"},
		{"us04web.zoom.us", "Zoom"},
		{"zoom.example.com", "Example"},
		{"github.com", "GitHub"},
		{"raw.githubusercontent.com", "GitHub"},
		{"foo.github.io", "GitHub"},
		{"one.one.one.one", "DNS-over-HTTPS"},
		{"cloudflare-dns.com", "DNS-over-HTTPS"},
		{"mozilla.cloudflare-dns.com", "DNS-over-HTTPS"},
		{"dns.google", "DNS-over-HTTPS"},
		{"DNS.Quad9.NET.", "DNS-over-HTTPS"},
		{"doh.opendns.com", "DNS-over-HTTPS"},
		{"abc123.dns.nextdns.io", "DNS-over-HTTPS"},
		{"www.cloudflare.com", "Cloudflare"},
		{"google.com", "Google"},
		{"quad9.net", "Quad9"},
		{"notcloudflare-dns.com", "Notcloudflare-dns"},
		{"a23-45-67-89.deploy.static.akamaitechnologies.com", "Akamai"},
		{"news.bbc.co.uk", "Bbc"},
		{"ocsp.digicert.com", "Digicert"},
		{"about.me", "About"},
		{"xn--80ak6aa92e.com", "Xn--80ak6aa92e"},
		{"école.fr", "École"},
		{"printer.local", "Printer"},
		{"192.0.2.1", "192.0.2.1"},
		{"2001:db8::1", "2001:db8::1"},
		{"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
		{"", ""},
		{"localhost", "localhost"},
		{"com", "com"},
		{"\xffab.com", "\uFFFDab"},
		{"bad\xff", "bad\uFFFD"},
	}
	for _, tt := range tests {
		got := Of(tt.in)
		if got != tt.want {
			t.Errorf("Of(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("Of(%q) = %q, not valid UTF-8", tt.in, got)
		}
	}
}

func BenchmarkNickname(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Of("r3---sn-x.googlevideo.com")
		Of("news.bbc.co.uk")
	}
}
