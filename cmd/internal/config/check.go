package config

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Check is every error of file: its own, and each flag value tried
// on every command that has the flag, in the order of the lines.
func Check(tree *cobra.Command, file *File) []Error {
	errs := slices.Clone(file.errs)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, set := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			set.VisitAll(func(fl *pflag.Flag) {
				n, ok := file.values[fl.Name]
				if !ok {
					return
				}
				v, err := fileValue(fl, n)
				if err == nil {
					err = setFlag(fl, v)
				}
				if err != nil {
					e := Error{line: file.lines[fl.Name], key: fl.Name, msg: fmt.Sprintf("%s: %v", fl.Name, err)}
					if !slices.Contains(errs, e) { // commands that share a flag share its error
						errs = append(errs, e)
					}
				}
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(tree)
	slices.SortStableFunc(errs, func(a, b Error) int { return a.line - b.line })
	return errs
}
