// A Go net/http client for connlab's fidelity tests: the real Transport with its real pool,
// driven by flags, reporting what it did as one JSON line on stdout (the httptrace view:
// requests answered, failed, dialed, reused).
//
//	go build -o client tests/go/client.go
//	client -url http://198.18.0.2/ -n 50 -c 50
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

type report struct {
	OK      int64            `json:"ok"`
	Failed  int64            `json:"failed"`
	Dialed  int64            `json:"dialed"`
	Reused  int64            `json:"reused"`
	Errors  map[string]int64 `json:"errors"`
	Elapsed float64          `json:"elapsed_s"`
}

func main() {
	url := flag.String("url", os.Getenv("CONNLAB_SERVER_URL")+"/", "target URL")
	n := flag.Int("n", 1, "requests per burst")
	c := flag.Int("c", 1, "workers sharing a burst's requests")
	gap := flag.Duration("gap", 0, "pause between a worker's requests")
	bursts := flag.Int("bursts", 1, "how many bursts")
	burstGap := flag.Duration("burst-gap", 0, "pause between bursts")
	postEvery := flag.Int("post-every", 0, "every n-th request is a POST (0: none)")
	idleTimeout := flag.Duration("idle-conn-timeout", 90*time.Second, "Transport.IdleConnTimeout")
	maxIdle := flag.Int("max-idle-per-host", 0, "Transport.MaxIdleConnsPerHost (0: Go's default, 2)")
	timeout := flag.Duration("timeout", 0, "Client.Timeout (0: none)")
	noKeepAlive := flag.Bool("disable-keepalives", false, "Transport.DisableKeepAlives")
	tcpKeepAlive := flag.Duration("tcp-keepalive", -1, "Dialer.KeepAlive (negative: off)")
	linger := flag.Duration("linger", 0, "stay alive this long after the last request")
	leak := flag.Bool("leak-bodies", false, "never read nor close response bodies (a leak)")
	flag.Parse()

	dialer := &net.Dialer{KeepAlive: *tcpKeepAlive}
	transport := &http.Transport{
		DialContext:         dialer.DialContext,
		IdleConnTimeout:     *idleTimeout,
		MaxIdleConnsPerHost: *maxIdle,
		DisableKeepAlives:   *noKeepAlive,
	}
	client := &http.Client{Transport: transport, Timeout: *timeout}
	var rep report
	rep.Errors = map[string]int64{}
	var mu sync.Mutex
	var seq int64
	start := time.Now()
	for b := 0; b < *bursts; b++ {
		if b > 0 {
			time.Sleep(*burstGap)
		}
		var next int64
		var wg sync.WaitGroup
		for w := 0; w < *c; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first := true
				for atomic.AddInt64(&next, 1) <= int64(*n) {
					if !first {
						time.Sleep(*gap)
					}
					first = false
					i := atomic.AddInt64(&seq, 1)
					method := http.MethodGet
					if *postEvery > 0 && i%int64(*postEvery) == 0 {
						method = http.MethodPost
					}
					err := one(client, method, *url, &rep, *leak)
					if err != nil {
						atomic.AddInt64(&rep.Failed, 1)
						mu.Lock()
						rep.Errors[method+": "+err.Error()]++
						mu.Unlock()
					} else {
						atomic.AddInt64(&rep.OK, 1)
					}
				}
			}()
		}
		wg.Wait()
	}
	rep.Elapsed = time.Since(start).Seconds()
	time.Sleep(*linger)
	out, _ := json.Marshal(rep)
	fmt.Println(string(out))
}

// one sends a request, reads the body to EOF and closes it (unless leak), counting dials and
// reuse.
func one(client *http.Client, method, url string, rep *report, leak bool) error {
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if info.Reused {
				atomic.AddInt64(&rep.Reused, 1)
			}
		},
		ConnectDone: func(network, addr string, err error) {
			if err == nil {
				atomic.AddInt64(&rep.Dialed, 1)
			}
		},
	}
	var body io.Reader
	if method == http.MethodPost {
		body = bytes.NewReader([]byte("payload"))
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), method, url, body)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	if leak {
		// Never read nor closed: the connection stays this response's, the next request dials.
		return nil
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
