package cmd

import (
	"net"

	"github.com/spf13/cobra"
)

// flagValues are the values shell completion offers for flags that take one
// of a few words. Cobra's own `netmon completion bash|zsh|fish|powershell`
// prints the script; these make it complete values, not only flag names.
var flagValues = map[string][]string{
	"by":                {"service\tgroup by service nickname", "domain\tgroup by domain", "device\tgroup by device"},
	"dns-match-queries": {"auto\tper client, once its queries are seen", "on\talways", "off\tnever"},
	"log-level":         {"debug", "info", "warn", "error"},
	"log-format":        {"text\tkey=value lines", "json\tone object per line"},
}

// registerCompletions walks every command and gives each flag named in
// flagValues, and -i/--interface, its value completion.
func registerCompletions(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for name, values := range flagValues {
			if c.Flags().Lookup(name) != nil || c.PersistentFlags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
			}
		}
		if c.Flags().Lookup("interface") != nil {
			_ = c.RegisterFlagCompletionFunc("interface", completeInterfaces)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// completeInterfaces offers the machine's network interfaces for -i.
func completeInterfaces(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	names := make([]string, 0, len(ifaces))
	for _, i := range ifaces {
		names = append(names, i.Name)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
