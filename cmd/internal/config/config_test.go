package config

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// Apply layers, on a flag set of its own, a variable over the file over the
// default, leaves a flag given on the command line alone, and says where
// each value came from; a file's bad value is refused with its line.
func TestApplyLayers(t *testing.T) {
	flags := pflag.NewFlagSet("x", pflag.ContinueOnError)
	window := flags.Duration("window", 10*time.Second, "")
	agent := flags.String("agent", "", "")
	limit := flags.Int("limit", 20, "")
	by := flags.String("by", "service", "")
	nets := flags.String("local-net", "", "")
	_ = flags.SetAnnotation("local-net", ListAnnotation, nil)
	if err := flags.Parse([]string{"--by", "domain"}); err != nil {
		t.Fatal(err)
	}
	known := KeySet{"window": true, "agent": true, "limit": true, "by": true, "local-net": true}
	file := Parse("n.yaml", []byte("window: 30s\nagent: pi\nby: device\nlocal-net: [10.0.0.0/8, 192.0.2.0/24]\n"), known)
	env := map[string]string{"NETMON_AGENT": "from-env", "NETMON_LIMIT": ""}
	if err := Apply(flags, file, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if *window != 30*time.Second || *agent != "from-env" || *limit != 20 || *by != "domain" || *nets != "10.0.0.0/8,192.0.2.0/24" {
		t.Errorf("values: window %v, agent %q, limit %d, by %q, local-net %q", *window, *agent, *limit, *by, *nets)
	}
	for name, want := range map[string]string{
		"window": "file n.yaml:1", "agent": "env NETMON_AGENT", "limit": "default", "by": "flag", "local-net": "file n.yaml:4",
	} {
		src, where := SourceOf(flags, name)
		if got := strings.TrimSpace(src.String() + " " + where); got != want {
			t.Errorf("%s: from %q, want %q", name, got, want)
		}
	}

	noEnv := func(string) (string, bool) { return "", false }
	bad := Parse("n.yaml", []byte("agent: x\nwindow: ten\n"), known)
	err := Apply(pflag.NewFlagSet("y", pflag.ContinueOnError), bad, noEnv)
	if err != nil {
		t.Errorf("keys no flag of the set has are not its business: %v", err)
	}
	fs := pflag.NewFlagSet("z", pflag.ContinueOnError)
	fs.Duration("window", time.Second, "")
	err = Apply(fs, bad, noEnv)
	if err == nil || !strings.HasPrefix(err.Error(), "n.yaml:2: window: ") {
		t.Errorf("a bad value in the file: %v; want it with its line", err)
	}
}
