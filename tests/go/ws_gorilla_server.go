// A gorilla/websocket echo server in the shape of gorilla's chat example (a ticker writing
// PingMessage every pingPeriod, the read deadline renewed by each pong), from Debian's
// golang-github-gorilla-websocket-dev, for connlab's fidelity tests. It serves one connection
// and prints its own account of it as one JSON line.
//
//	ws_gorilla_server ADDR MESSAGES
//
// After MESSAGES messages it stops pinging, waits for the pong of its last ping, echoes the
// last message and waits for the client's close.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	pingPeriod = 200 * time.Millisecond
	pongWait   = 2 * time.Second
	writeWait  = 2 * time.Second
)

type counts struct {
	MessagesReceived int `json:"messages_received"`
	MessagesSent     int `json:"messages_sent"`
	PingsSent        int `json:"pings_sent"`
	PongsReceived    int `json:"pongs_received"`
	CloseCode        int `json:"close_code"`
}

func main() {
	addr := os.Args[1]
	messages, _ := strconv.Atoi(os.Args[2])
	upgrader := websocket.Upgrader{}
	done := make(chan counts, 1)
	http.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		var mu sync.Mutex
		var n counts
		c.SetReadDeadline(time.Now().Add(pongWait))
		c.SetPongHandler(func(string) error {
			mu.Lock()
			n.PongsReceived++
			mu.Unlock()
			c.SetReadDeadline(time.Now().Add(pongWait))
			return nil
		})
		stop := make(chan struct{})
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			ticker := time.NewTicker(pingPeriod)
			defer ticker.Stop()
			for {
				select {
				case <-ticker.C:
					mu.Lock()
					err := c.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait))
					if err == nil {
						n.PingsSent++
					}
					mu.Unlock()
				case <-stop:
					return
				}
			}
		}()
		for {
			kind, data, err := c.ReadMessage()
			if err != nil {
				if ce, ok := err.(*websocket.CloseError); ok {
					n.CloseCode = ce.Code
				}
				break
			}
			n.MessagesReceived++
			if n.MessagesReceived == messages {
				close(stop)
				<-stopped
				// The pong of the last ping is read by the next ReadMessage; give it time
				// to arrive before the echo lets the client close.
				time.Sleep(300 * time.Millisecond)
			}
			mu.Lock()
			c.SetWriteDeadline(time.Now().Add(writeWait))
			err = c.WriteMessage(kind, data)
			if err == nil {
				n.MessagesSent++
			}
			mu.Unlock()
		}
		mu.Lock()
		done <- n
		mu.Unlock()
	})
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}()
	n := <-done
	out, _ := json.Marshal(n)
	fmt.Println(string(out))
}
