// Command naming reads the rows a `netmon replay` wrote to a SQLite file
// and prints how their bytes were named: by a bare address, by the
// address's owner (--asn-db), by the domain's first label, or by the
// catalogue and the user's rules. It works on a database any netmon
// version wrote; bench/naming.sh builds it with each version's catalogue
// to compare before and after.
//
//	go run ./bench/naming -db FILE
package main

import (
	"database/sql"
	"flag"
	"fmt"
	"net/netip"
	"os"

	_ "modernc.org/sqlite"

	"github.com/netmon/netmon/resolver/nickname"
)

func main() {
	db := flag.String("db", "", "SQLite file a netmon replay wrote")
	flag.Parse()
	if *db == "" {
		fmt.Fprintln(os.Stderr, "naming: -db FILE is required")
		os.Exit(2)
	}
	if _, err := os.Stat(*db); err != nil {
		fmt.Fprintln(os.Stderr, "naming:", err)
		os.Exit(1)
	}
	conn, err := sql.Open("sqlite", "file:"+*db+"?mode=ro")
	if err != nil {
		fmt.Fprintln(os.Stderr, "naming:", err)
		os.Exit(1)
	}
	rows, err := conn.Query(`SELECT domain, nickname, SUM(bytes) FROM tcpdump_records GROUP BY domain, nickname`)
	if err != nil {
		fmt.Fprintln(os.Stderr, "naming:", err)
		os.Exit(1)
	}
	by := map[string]int64{}
	var total int64
	for rows.Next() {
		var domain []byte
		var nick string
		var bytes int64
		if err := rows.Scan(&domain, &nick, &bytes); err != nil {
			fmt.Fprintln(os.Stderr, "naming:", err)
			os.Exit(1)
		}
		total += bytes
		by[classify(string(domain), nick)] += bytes
	}
	if err := rows.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "naming:", err)
		os.Exit(1)
	}
	fmt.Printf("total %d bytes\n", total)
	for _, k := range []string{"address", "asn", "label", "catalogue"} {
		fmt.Printf("%-9s %5.1f%%  %d\n", k, 100*float64(by[k])/float64(max(total, 1)), by[k])
	}
}

func isAddr(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// classify says where a row's nickname came from: the address, its owner
// (the row is an address's and the nickname is not), else what the
// catalogue of the netmon this tool was built with says of the domain.
func classify(domain, nick string) string {
	switch {
	case nick == "" || isAddr(nick):
		return "address"
	case isAddr(domain) || domain == "":
		return "asn"
	}
	if _, src := nickname.Named(domain); src == nickname.FromCatalogue {
		return "catalogue"
	}
	return "label"
}
