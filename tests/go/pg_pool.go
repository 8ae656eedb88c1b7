// A database/sql pool with its defaults (SetMaxIdleConns 2, no limit on open connections)
// over lib/pq: two bursts of 20 concurrent queries, one second apart. Each query holds its
// connection for 50 ms, so a burst needs 20 at once; after it the pool keeps 2 and closes the
// rest. Prints the pool's own db.Stats() as JSON, the truth the capture is checked against.
//
//	pg_pool HOST
package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	_ "github.com/lib/pq"
)

const (
	bursts    = 2
	perBurst  = 20
	burstGap  = time.Second
	queryText = "SELECT 1 FROM pg_sleep(0.05)"
)

func main() {
	dsn := fmt.Sprintf("host=%s port=5432 user=postgres dbname=postgres sslmode=disable", os.Args[1])
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		panic(err)
	}
	for b := 0; b < bursts; b++ {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < perBurst; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				var one int
				if err := db.QueryRow(queryText).Scan(&one); err != nil {
					panic(err)
				}
			}()
		}
		close(start)
		wg.Wait()
		time.Sleep(burstGap)
	}
	s := db.Stats()
	if err := json.NewEncoder(os.Stdout).Encode(map[string]interface{}{
		"queries":          bursts * perBurst,
		"open_connections": s.OpenConnections,
		"idle":             s.Idle,
		"max_idle_closed":  s.MaxIdleClosed,
	}); err != nil {
		panic(err)
	}
	db.Close()
}
