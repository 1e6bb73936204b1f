// h2split: several HTTP/2 clients, each with its own Transport, where one would do.
//
// Each Transport (ForceAttemptHTTP2 over TLS) opens its own h2 connection, so CLIENTS
// connections carry what one connection could multiplex.  With PROTO "h1" the
// Transports leave ForceAttemptHTTP2 off: Go then never offers h2 when a custom
// TLSClientConfig is set, and every client stays on HTTP/1.1 to an h2 server.
//
// Usage: h2split URL CAFILE CLIENTS REQUESTS_EACH [h2|h1]
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
)

func main() {
	if len(os.Args) != 5 && len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: h2split URL CAFILE CLIENTS REQUESTS_EACH [h2|h1]")
		os.Exit(2)
	}
	url, caFile := os.Args[1], os.Args[2]
	clients, err1 := strconv.Atoi(os.Args[3])
	each, err2 := strconv.Atoi(os.Args[4])
	if err1 != nil || err2 != nil || clients < 1 || each < 1 {
		fmt.Fprintln(os.Stderr, "CLIENTS and REQUESTS_EACH must be positive integers")
		os.Exit(2)
	}
	wantH2 := len(os.Args) == 5 || os.Args[5] == "h2"
	pem, err := os.ReadFile(caFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reading CA:", err)
		os.Exit(2)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		fmt.Fprintln(os.Stderr, "no certificate in", caFile)
		os.Exit(2)
	}
	var failed, done atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The mistake: a Transport (so a connection pool) per client.
			client := &http.Client{Transport: &http.Transport{
				TLSClientConfig:   &tls.Config{RootCAs: roots},
				ForceAttemptHTTP2: wantH2,
			}}
			for i := 0; i < each; i++ {
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
				if (resp.ProtoMajor == 2) != wantH2 {
					fmt.Fprintln(os.Stderr, "unexpected protocol:", resp.Proto)
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
