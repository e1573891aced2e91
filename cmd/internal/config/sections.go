// The config file's sections that are not flags: nicknames, encrypted-dns
// and devices, each checked with the line it came from.

package config

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/netmon/netmon/resolver/nickname"
)

// parseNicknames reads the nicknames section: a list of rules, each with
// exactly one of keyword, suffix and cidr, and a nickname.
func (f *File) parseNicknames(v *yaml.Node) []nickname.Rule {
	if v.Kind != yaml.SequenceNode {
		f.errorf(v.Line, keyNicknames, "nicknames: want a list of rules such as \"- {cidr: 104.244.40.0/21, nickname: Twitter}\", got %s", kindName(v))
		return nil
	}
	var rules []nickname.Rule
	for _, item := range v.Content {
		item = resolveAlias(item)
		if item.Kind != yaml.MappingNode {
			f.errorf(item.Line, keyNicknames, "nicknames: want a rule such as \"{suffix: example.com, nickname: Example}\", got %s", kindName(item))
			continue
		}
		var kinds []string
		var kindNode, nickNode *yaml.Node
		ok := true
		for i := 0; i+1 < len(item.Content); i += 2 {
			k, val := item.Content[i], item.Content[i+1]
			switch k.Value {
			case nickname.RuleKeyword, nickname.RuleSuffix, nickname.RuleCIDR:
				kinds = append(kinds, k.Value)
				kindNode = val
			case "nickname":
				nickNode = val
			default:
				f.errorf(k.Line, keyNicknames, "nicknames: unknown key %q in a rule (want one of keyword, suffix, cidr, and nickname)", k.Value)
				ok = false
			}
		}
		if len(kinds) != 1 {
			what := "none"
			if len(kinds) > 1 {
				what = strings.Join(kinds, " and ")
			}
			f.errorf(item.Line, keyNicknames, "nicknames: a rule takes exactly one of keyword, suffix and cidr, got %s", what)
			ok = false
		}
		if nickNode == nil {
			f.errorf(item.Line, keyNicknames, "nicknames: rule without a nickname")
			ok = false
		}
		if !ok {
			continue
		}
		value, err := scalar(kindNode)
		if err == nil {
			// A placeholder nickname first, so that an error is the
			// value's, on the value's line.
			_, err = nickname.NewRule(kinds[0], value, "x")
		}
		if err != nil {
			f.errorf(kindNode.Line, keyNicknames, "nicknames: %s: %v", kinds[0], err)
			continue
		}
		nick, err := scalar(nickNode)
		var r nickname.Rule
		if err == nil {
			r, err = nickname.NewRule(kinds[0], value, nick)
		}
		if err != nil {
			f.errorf(nickNode.Line, keyNicknames, "nicknames: nickname: %v", err)
			continue
		}
		rules = append(rules, r)
	}
	return rules
}

// parseEncryptedDNS reads the encrypted-dns section: a list of resolver
// names and addresses or CIDRs.
func (f *File) parseEncryptedDNS(v *yaml.Node) []nickname.Rule {
	if v.Kind != yaml.SequenceNode {
		f.errorf(v.Line, keyEncryptedDNS, "encrypted-dns: want a list of resolver names, addresses and CIDRs, got %s", kindName(v))
		return nil
	}
	var rules []nickname.Rule
	for _, item := range v.Content {
		s, err := scalar(item)
		var r nickname.Rule
		if err == nil {
			r, err = nickname.EncryptedDNSRule(s)
		}
		if err != nil {
			f.errorf(item.Line, keyEncryptedDNS, "encrypted-dns: %v", err)
			continue
		}
		rules = append(rules, r)
	}
	return rules
}

// parseDevices reads the devices section: names the user gives devices by
// their MAC address.
func (f *File) parseDevices(v *yaml.Node) {
	if v.Kind != yaml.SequenceNode {
		f.errorf(v.Line, keyDevices, "devices: want a list such as \"- {mac: aa:bb:cc:dd:ee:ff, name: Living-room TV}\", got %s", kindName(v))
		return
	}
	f.Devices = map[string]string{}
	lines := map[string]int{}
	for _, item := range v.Content {
		item = resolveAlias(item)
		if item.Kind != yaml.MappingNode {
			f.errorf(item.Line, keyDevices, "devices: want {mac: ..., name: ...}, got %s", kindName(item))
			continue
		}
		var macNode, nameNode *yaml.Node
		for i := 0; i+1 < len(item.Content); i += 2 {
			switch k := item.Content[i]; k.Value {
			case "mac":
				macNode = item.Content[i+1]
			case "name":
				nameNode = item.Content[i+1]
			default:
				f.errorf(k.Line, keyDevices, "devices: unknown key %q (want mac and name)", k.Value)
			}
		}
		if macNode == nil || nameNode == nil {
			f.errorf(item.Line, keyDevices, "devices: an entry needs both mac and name")
			continue
		}
		mac, err := scalar(macNode)
		if err == nil {
			mac, err = normalMAC(mac)
		}
		if err != nil {
			f.errorf(macNode.Line, keyDevices, "devices: mac: %v", err)
			continue
		}
		name, err := scalar(nameNode)
		if err == nil {
			name, err = deviceName(name)
		}
		if err != nil {
			f.errorf(nameNode.Line, keyDevices, "devices: name: %v", err)
			continue
		}
		if prev, dup := lines[mac]; dup {
			f.errorf(macNode.Line, keyDevices, "devices: %s given twice (first on line %d)", mac, prev)
			continue
		}
		lines[mac] = macNode.Line
		f.Devices[mac] = name
	}
}

// normalMAC reads a 48-bit MAC address in any of the usual spellings
// (AA:BB:CC:DD:EE:FF, aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff) and returns it in
// the form devices keys names by.
func normalMAC(s string) (string, error) {
	hw, err := net.ParseMAC(strings.TrimSpace(s))
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("%q is not a MAC address (want e.g. AA:BB:CC:DD:EE:FF)", s)
	}
	return hw.String(), nil
}

// deviceName keeps a device's name to one printable line.
func deviceName(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", errors.New("empty name")
	case !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl):
		return "", fmt.Errorf("%q is not one line of text", s)
	case utf8.RuneCountInString(s) > 255:
		return "", errors.New("name longer than 255 characters")
	}
	return s, nil
}
