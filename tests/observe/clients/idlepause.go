// idlepause: one shared client whose idle timeout (Go's default for
// DefaultTransport, 90 s) is longer than the server's keep-alive timeout, with pauses
// between requests longer than the server keeps an idle connection.
//
// Each request after a pause finds its pooled connection closed by the server; in
// production the server's close races the client's next request on it.
//
// Usage: idlepause URL REQUESTS PAUSE_MS
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: idlepause URL REQUESTS PAUSE_MS")
		os.Exit(2)
	}
	url := os.Args[1]
	n, err1 := strconv.Atoi(os.Args[2])
	pause, err2 := strconv.Atoi(os.Args[3])
	if err1 != nil || err2 != nil || n < 1 || pause < 0 {
		fmt.Fprintln(os.Stderr, "REQUESTS must be positive, PAUSE_MS non-negative")
		os.Exit(2)
	}
	// The mistake: idle connections are kept far longer than the server keeps them.
	client := &http.Client{Transport: &http.Transport{IdleConnTimeout: 90 * time.Second}}
	for i := 0; i < n; i++ {
		if i > 0 {
			time.Sleep(time.Duration(pause) * time.Millisecond)
		}
		resp, err := client.Get(url)
		if err != nil {
			fmt.Fprintln(os.Stderr, "request", i, "failed:", err)
			os.Exit(1)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			fmt.Fprintln(os.Stderr, "request", i, "bad response:", resp.Status, err)
			os.Exit(1)
		}
	}
	fmt.Printf("requests=%d\n", n)
}
