package asn

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// wellKnown maps the networks of services people know to the name they
// know them by, the catalogue's name where it has one. An ASN rather than
// the organisation's text, which differs between databases and years.
// TestWellKnownEveryASN gives each one its organisation as
// @ip-location-db/asn names it, and checks it there.
var wellKnown = map[uint32]string{
	2906: "Netflix", 40027: "Netflix", 55095: "Netflix",
	15169: "Google", 19527: "Google", 396982: "Google", 36040: "YouTube", 43515: "YouTube", 36384: "Google", 36492: "Google",
	32934: "Facebook", 63293: "Facebook", 54115: "Facebook",
	11917: "WhatsApp",
	714:   "Apple", 6185: "Apple",
	8075: "Microsoft", 8068: "Microsoft", 8069: "Microsoft", 12076: "Microsoft", 3598: "Microsoft",
	16509: "Amazon", 14618: "Amazon", 7224: "Amazon", 8987: "Amazon",
	20940: "Akamai", 16625: "Akamai", 21342: "Akamai", 24319: "Akamai", 33905: "Akamai", 34164: "Akamai",
	35994: "Akamai", 63949: "Akamai", 12222: "Akamai", 18717: "Akamai", 18680: "Akamai", 32787: "Akamai",
	13335: "Cloudflare", 209242: "Cloudflare", 394536: "Cloudflare",
	54113: "Fastly",
	19679: "Dropbox",
	38631: "LINE",
	13414: "Twitter", 35995: "Twitter", 63179: "Twitter",
	62041: "Telegram", 59930: "Telegram", 62014: "Telegram", 44907: "Telegram", 211157: "Telegram",
	32590: "Steam",
	33353: "PlayStation", 11795: "PlayStation", 397077: "PlayStation", 25562: "PlayStation", 13989: "PlayStation",
	396986: "TikTok", 138699: "TikTok",
	15133: "Edgecast",
	45102: "Alibaba", 37963: "Alibaba", 24429: "Alibaba",
	132203: "Tencent", 45090: "Tencent",
	30103: "Zoom",
	46489: "Twitch",
	36459: "GitHub",
	14907: "Wikipedia",
	10310: "Yahoo",
	22822: "Limelight",
	60068: "CDN77",
	2635:  "Automattic",
}

// Service is what a person calls the owner: the service a well-known
// network serves, else the organisation's name without its legal form
// ("Hetzner Online GmbH" → "Hetzner Online", "DIGITALOCEAN-ASN" →
// "Digitalocean"), else "AS" and the number.
func Service(o Owner) string {
	if s, ok := wellKnown[o.ASN]; ok {
		return s
	}
	if s := Readable(o.Org); s != "" {
		return s
	}
	if o.ASN == 0 {
		return ""
	}
	return "AS" + utoa(o.ASN)
}

func utoa(n uint32) string {
	var b [10]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}

// legal are the words of a legal form, dropped from the end of a name.
var legal = map[string]bool{
	"inc": true, "inc.": true, "llc": true, "llc.": true, "ltd": true, "ltd.": true, "limited": true,
	"corporation": true, "corp": true, "corp.": true, "co": true, "co.": true, "company": true,
	"gmbh": true, "ag": true, "sa": true, "s.a.": true, "sas": true, "b.v.": true, "bv": true,
	"plc": true, "pte": true, "pte.": true, "pty": true, "l.l.c.": true, "ab": true, "oy": true,
	"as": true, "asn": true, "s.r.l.": true, "srl": true, "spa": true, "s.p.a.": true, "k.k.": true,
	"kg": true, "se": true, "n.v.": true, "nv": true, "lp": true, "l.p.": true, "sl": true, "s.l.": true,
}

// spacer puts spaces where a name's words may touch punctuation. Built
// once: a Replacer builds a 6 KB table, which per call was most of the
// cost of naming a row by its owner.
var spacer = strings.NewReplacer(",", " ", "(", " (", ")", ") ")

// Readable trims an organisation's name to what a dashboard shows: no
// legal form at the end, no "-AS"/"-ASN" suffix of a network handle, and an
// all-capitals handle in title case. It returns "" for a name with nothing
// left, and always valid UTF-8 without control characters.
func Readable(org string) string {
	s := strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return -1
		}
		return r
	}, org)
	s = strings.TrimSpace(s)
	// A network handle: DIGITALOCEAN-ASN, GOOGLE-CLOUD-PLATFORM.
	handle := !strings.ContainsRune(s, ' ') && strings.ToUpper(s) == s
	if handle {
		for _, suf := range []string{"-ASN", "-AS"} {
			s = strings.TrimSuffix(s, suf)
		}
		s = strings.ReplaceAll(s, "-", " ")
	}
	words := strings.Fields(spacer.Replace(s))
	for len(words) > 1 && legal[strings.ToLower(words[len(words)-1])] {
		words = words[:len(words)-1]
	}
	if len(words) == 1 && legal[strings.ToLower(words[0])] {
		return ""
	}
	if handle {
		for i, w := range words {
			r, n := utf8.DecodeRuneInString(w)
			words[i] = string(r) + strings.ToLower(w[n:])
		}
	}
	r := strings.Join(words, " ")
	if strings.HasPrefix(org, r) {
		// Most often only a legal form went: keep the name's own bytes,
		// so that the names worked out at load cost no memory.
		return org[:len(r)]
	}
	return r
}
