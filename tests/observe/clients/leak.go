// leak: the classic mistake. http.Get in a loop, the response body never closed.
//
// Each unclosed body pins its connection: the Transport can neither reuse it nor
// close it, so every request opens a new connection and the old ones stay open,
// unused, until the process exits (in a long-running service: until it runs out of
// file descriptors).
//
// Usage: leak URL REQUESTS
package main

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: leak URL REQUESTS")
		os.Exit(2)
	}
	url := os.Args[1]
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n < 1 {
		fmt.Fprintln(os.Stderr, "REQUESTS must be a positive integer")
		os.Exit(2)
	}
	kept := make([]*http.Response, 0, n) // referenced until exit, as a leak would be
	for i := 0; i < n; i++ {
		resp, err := http.Get(url)
		if err != nil {
			fmt.Fprintln(os.Stderr, "request", i, "failed:", err)
			os.Exit(1)
		}
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintln(os.Stderr, "request", i, "status", resp.Status)
			os.Exit(1)
		}
		kept = append(kept, resp) // the mistake: no resp.Body.Close()
	}
	fmt.Printf("requests=%d\n", len(kept))
}
