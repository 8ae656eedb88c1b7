// pgx v4 (Debian's golang-github-jackc-pgx-v4-dev) holding sessions as a pool does: SESSIONS
// connections opened at once, QUERIES queries on each (pgx's extended protocol, one
// Parse/Bind/Describe/Execute/Sync turn each), then each closed. Prints the counts as JSON,
// the truth the capture is checked against.
//
//	pgx_sessions HOST SESSIONS QUERIES
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/jackc/pgx/v4"
)

func main() {
	ctx := context.Background()
	url := fmt.Sprintf("postgres://postgres@%s:5432/postgres?sslmode=disable", os.Args[1])
	sessions, _ := strconv.Atoi(os.Args[2])
	queries, _ := strconv.Atoi(os.Args[3])
	var pool []*pgx.Conn
	for i := 0; i < sessions; i++ {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			panic(err)
		}
		pool = append(pool, c)
	}
	ran := 0
	for _, c := range pool {
		for q := 0; q < queries; q++ {
			var got int
			if err := c.QueryRow(ctx, "SELECT $1::int + 1", q).Scan(&got); err != nil {
				panic(err)
			}
			if got != q+1 {
				panic("wrong answer")
			}
			ran++
		}
		if err := c.Close(ctx); err != nil {
			panic(err)
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(map[string]int{"sessions": sessions, "queries": ran}); err != nil {
		panic(err)
	}
}
