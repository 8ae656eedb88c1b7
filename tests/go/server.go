// A Go net/http server for connlab's fidelity tests: the real http.Server with its timeouts,
// answering "ok" after an optional handler delay.
//
//	go build -o server tests/go/server.go
//	server -addr :80 -read-timeout 1s
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"time"
)

func main() {
	addr := flag.String("addr", ":80", "listen address")
	readTimeout := flag.Duration("read-timeout", 0, "Server.ReadTimeout")
	idleTimeout := flag.Duration("idle-timeout", 0, "Server.IdleTimeout (0: ReadTimeout)")
	writeTimeout := flag.Duration("write-timeout", 0, "Server.WriteTimeout")
	delay := flag.Duration("handler-delay", 0, "time the handler works")
	shutdownAt := flag.Duration("shutdown-at", 0, "call Server.Shutdown this long after start (0: never)")
	flag.Parse()

	srv := &http.Server{
		Addr:         *addr,
		ReadTimeout:  *readTimeout,
		IdleTimeout:  *idleTimeout,
		WriteTimeout: *writeTimeout,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(*delay)
			w.Write([]byte("ok"))
		}),
	}
	if *shutdownAt > 0 {
		go func() {
			time.Sleep(*shutdownAt)
			srv.Shutdown(context.Background())
		}()
	}
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
	// Stay up (the lab kills it) so the end of the process closes nothing early.
	time.Sleep(time.Hour)
}
