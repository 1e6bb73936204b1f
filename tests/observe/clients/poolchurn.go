// poolchurn: one shared client with Go's default idle pool (MaxIdleConnsPerHost: 2)
// used by many goroutines at once.
//
// Bodies are drained and closed, yet under a concurrency of 20 only 2 connections may
// wait idle: every other connection is closed by the client right after its response,
// and a new one is opened moments later for the next request.  Each goroutine pauses
// PAUSE_MS between its requests (work done between calls), so a connection that
// finishes its response finds no request waiting for it.
//
// Usage: poolchurn URL GOROUTINES REQUESTS_EACH PAUSE_MS
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: poolchurn URL GOROUTINES REQUESTS_EACH PAUSE_MS")
		os.Exit(2)
	}
	url := os.Args[1]
	workers, err1 := strconv.Atoi(os.Args[2])
	each, err2 := strconv.Atoi(os.Args[3])
	pause, err3 := strconv.Atoi(os.Args[4])
	if err1 != nil || err2 != nil || err3 != nil || workers < 1 || each < 1 || pause < 0 {
		fmt.Fprintln(os.Stderr, "GOROUTINES, REQUESTS_EACH must be positive, PAUSE_MS non-negative")
		os.Exit(2)
	}
	// The mistake: the default, spelled out. DefaultMaxIdleConnsPerHost is 2.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
	var failed, done atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if i > 0 {
					time.Sleep(time.Duration(pause) * time.Millisecond)
				}
				resp, err := client.Get(url)
				if err != nil {
					fmt.Fprintln(os.Stderr, "request failed:", err)
					failed.Add(1)
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					fmt.Fprintln(os.Stderr, "bad response:", resp.Status, err)
					failed.Add(1)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		os.Exit(1)
	}
	fmt.Printf("requests=%d\n", done.Load())
}
