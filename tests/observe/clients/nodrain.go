// nodrain: one shared client, but each response body is closed without being read.
//
// Closing a body before its end makes Go's Transport close the connection instead of
// returning it to the idle pool, so every request pays for a new connection, and the
// server sees the client hang up in the middle of a large response.
//
// Usage: nodrain URL REQUESTS
package main

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: nodrain URL REQUESTS")
		os.Exit(2)
	}
	url := os.Args[1]
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n < 1 {
		fmt.Fprintln(os.Stderr, "REQUESTS must be a positive integer")
		os.Exit(2)
	}
	client := &http.Client{}
	for i := 0; i < n; i++ {
		resp, err := client.Get(url)
		if err != nil {
			fmt.Fprintln(os.Stderr, "request", i, "failed:", err)
			os.Exit(1)
		}
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintln(os.Stderr, "request", i, "status", resp.Status)
			os.Exit(1)
		}
		resp.Body.Close() // the mistake: closed, never read to the end
	}
	fmt.Printf("requests=%d\n", n)
}
