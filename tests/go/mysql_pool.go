// A database/sql pool with its defaults (SetMaxIdleConns 2, no limit on open connections)
// over go-sql-driver/mysql: two bursts of 20 concurrent queries, one second apart. Each query
// holds its connection for 50 ms, so a burst needs 20 at once; after it the pool keeps 2 and
// closes the rest. Prints the pool's own db.Stats() as JSON, the truth the capture is checked
// against.
//
//	mysql_pool HOST
package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	_ "github.com/go-sql-driver/mysql"
)

const (
	bursts    = 2
	perBurst  = 20
	burstGap  = time.Second
	queryText = "SELECT SLEEP(0.05)"
)

func main() {
	db, err := sql.Open("mysql", fmt.Sprintf("app@tcp(%s:3306)/", os.Args[1]))
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
				var slept int
				if err := db.QueryRow(queryText).Scan(&slept); err != nil {
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
