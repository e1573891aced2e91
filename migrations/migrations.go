// Package migrations owns netmon's database schema: goose-format SQL files,
// one folder per SQL dialect, embedded into the binary so that
// "netmon migrate" needs nothing but the binary and a database.
//
// Each dialect's folder is a complete history; a change to the schema is a
// new numbered file in every folder, never an edit of an applied one.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed mysql/*.sql
var mysqlFiles embed.FS

//go:embed sqlite/*.sql
var sqliteFiles embed.FS

// MySQL returns the MariaDB/MySQL migrations, rooted so that the goose
// provider sees the numbered files at the top level.
func MySQL() fs.FS {
	sub, err := fs.Sub(mysqlFiles, "mysql")
	if err != nil {
		// fs.Sub fails only for an invalid path, and "mysql" is a constant.
		panic("migrations: " + err.Error())
	}
	return sub
}

// SQLite returns the SQLite migrations, goose dialect sqlite3. They mirror
// the MySQL ones version for version: the same tables, columns and keys.
func SQLite() fs.FS {
	sub, err := fs.Sub(sqliteFiles, "sqlite")
	if err != nil {
		// As in MySQL: "sqlite" is a constant.
		panic("migrations: " + err.Error())
	}
	return sub
}
