// newtransport: a new http.Client with its own Transport for every request.
//
// The body is read and closed correctly, but each Transport has its own pool, so no
// connection is ever used twice: one new connection (and handshake) per request, and
// the abandoned pools keep their idle connections open.
//
// Usage: newtransport URL REQUESTS
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: newtransport URL REQUESTS")
		os.Exit(2)
	}
	url := os.Args[1]
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n < 1 {
		fmt.Fprintln(os.Stderr, "REQUESTS must be a positive integer")
		os.Exit(2)
	}
	for i := 0; i < n; i++ {
		client := &http.Client{Transport: &http.Transport{}} // the mistake
		resp, err := client.Get(url)
		if err != nil {
			fmt.Fprintln(os.Stderr, "request", i, "failed:", err)
			os.Exit(1)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			fmt.Fprintln(os.Stderr, "request", i, "body:", err)
			os.Exit(1)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintln(os.Stderr, "request", i, "status", resp.Status)
			os.Exit(1)
		}
	}
	fmt.Printf("requests=%d\n", n)
}
