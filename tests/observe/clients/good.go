// good: the correct client.  One shared client for the whole program, an idle pool as
// large as the concurrency, every body read to the end and closed.  Over TLS (CAFILE
// given) it speaks HTTP/2 and multiplexes its requests on one connection.
//
// Usage: good URL REQUESTS [CONCURRENCY [CAFILE]]
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func fail(code int, args ...any) {
	fmt.Fprintln(os.Stderr, args...)
	os.Exit(code)
}

func main() {
	if len(os.Args) < 3 || len(os.Args) > 5 {
		fail(2, "usage: good URL REQUESTS [CONCURRENCY [CAFILE]]")
	}
	url := os.Args[1]
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n < 1 {
		fail(2, "REQUESTS must be a positive integer")
	}
	workers := 1
	if len(os.Args) >= 4 {
		workers, err = strconv.Atoi(os.Args[3])
		if err != nil || workers < 1 {
			fail(2, "CONCURRENCY must be a positive integer")
		}
	}
	transport := &http.Transport{
		MaxIdleConnsPerHost: workers,
		IdleConnTimeout:     90 * time.Second,
	}
	wantH2 := len(os.Args) == 5
	if wantH2 {
		pem, err := os.ReadFile(os.Args[4])
		if err != nil {
			fail(2, "reading CA:", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			fail(2, "no certificate in", os.Args[4])
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: roots}
		transport.ForceAttemptHTTP2 = true
	}
	client := &http.Client{Transport: transport}
	get := func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		if (resp.ProtoMajor == 2) != wantH2 {
			return fmt.Errorf("unexpected protocol %s", resp.Proto)
		}
		return nil
	}
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := get(); err != nil {
					fmt.Fprintln(os.Stderr, "request failed:", err)
					failed.Add(1)
					return
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		os.Exit(1)
	}
	fmt.Printf("requests=%d\n", n)
}
