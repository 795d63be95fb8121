package main

import (
	"database/sql"
	"fmt"
	"os/exec"
)

func lookup(db *sql.DB, id string) {
	db.Query(fmt.Sprintf("SELECT * FROM items WHERE id = %s", id))
	exec.Command("sh", "-c", "echo "+id).Run()
}

func main() {}
