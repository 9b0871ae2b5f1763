// Command loadgen is the proxy bench's load generator and origin server, kept outside the
// measured proxies and as cheap as possible: HTTP/1.1 over raw net.Conn, no net/http.
//
//	loadgen server -listen 127.0.0.1:0 -body 1024
//	    Serves GET with a fixed 1 kB body, keep-alive. Prints "listening <addr>" once ready.
//	loadgen load -target 127.0.0.1:8080 -conns 64 -duration 5s
//	    Closed loop: each connection sends the next request when the previous answer is in.
//	loadgen load -target 127.0.0.1:8080 -conns 16 -rate 1000 -duration 5s
//	    Open loop: requests start at fixed intervals whether or not earlier ones are done;
//	    latency includes waiting for a free connection, so a stall is not hidden.
//
// The load mode prints one JSON object: requests, errors, seconds, rps, latency
// percentiles in microseconds.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen server|load [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "server":
		serve(os.Args[2:])
	case "load":
		load(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
}

// ---- server ----

func serve(args []string) {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	bodySize := fs.Int("body", 1024, "response body bytes")
	_ = fs.Parse(args)

	body := bytes.Repeat([]byte("r"), *bodySize)
	response := append([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"), body...)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	for {
		conn, err := ln.Accept()
		if err != nil {
			continue
		}
		go serveConn(conn, response)
	}
}

// serveConn answers every request head (up to the blank line) with the fixed response.
// Requests carry no body (GET), which is all the bench sends.
func serveConn(conn net.Conn, response []byte) {
	defer conn.Close()
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
	}
	buf := make([]byte, 16384)
	have := 0
	for {
		n, err := conn.Read(buf[have:])
		if n > 0 {
			have += n
			for {
				end := bytes.Index(buf[:have], []byte("\r\n\r\n"))
				if end < 0 {
					break
				}
				if _, werr := conn.Write(response); werr != nil {
					return
				}
				copy(buf, buf[end+4:have])
				have -= end + 4
			}
			if have == len(buf) {
				return // a request head larger than the buffer: not ours
			}
		}
		if err != nil {
			return
		}
	}
}

// ---- load ----

type result struct {
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	Seconds    float64 `json:"seconds"`
	RPS        float64 `json:"rps"`
	P50us      float64 `json:"p50_us"`
	P90us      float64 `json:"p90_us"`
	P99us      float64 `json:"p99_us"`
	P999us     float64 `json:"p999_us"`
	MaxUs      float64 `json:"max_us"`
	Conns      int     `json:"conns"`
	Rate       float64 `json:"rate,omitempty"`
	FirstError string  `json:"first_error,omitempty"`
}

func load(args []string) {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	target := fs.String("target", "", "host:port")
	conns := fs.Int("conns", 1, "connections")
	duration := fs.Duration("duration", 5*time.Second, "measured duration")
	rate := fs.Float64("rate", 0, "requests per second (open loop); 0 = closed loop")
	path := fs.String("path", "/", "request path")
	_ = fs.Parse(args)
	if *target == "" {
		fmt.Fprintln(os.Stderr, "-target is required")
		os.Exit(2)
	}
	request := []byte("GET " + *path + " HTTP/1.1\r\nHost: bench\r\nUser-Agent: reseal-loadgen\r\n\r\n")

	clients := make([]*client, *conns)
	for i := range clients {
		c, err := dial(*target, request)
		if err != nil {
			fmt.Fprintf(os.Stderr, "connect %s: %v\n", *target, err)
			os.Exit(1)
		}
		clients[i] = c
	}
	var res result
	if *rate > 0 {
		res = openLoop(clients, *rate, *duration)
	} else {
		res = closedLoop(clients, *duration)
	}
	res.Conns = *conns
	res.Rate = *rate
	for _, c := range clients {
		c.conn.Close()
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

type client struct {
	conn    net.Conn
	reader  *bufio.Reader
	request []byte
}

func dial(target string, request []byte) (*client, error) {
	conn, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
	}
	return &client{conn: conn, reader: bufio.NewReaderSize(conn, 32768), request: request}, nil
}

var errBadResponse = errors.New("bad response")

// do sends one request and reads the whole response (status 200, Content-Length body).
func (c *client) do() error {
	if _, err := c.conn.Write(c.request); err != nil {
		return err
	}
	status, err := c.reader.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200")) {
		return fmt.Errorf("%w: %q", errBadResponse, status)
	}
	length := -1
	for {
		line, err := c.reader.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && bytes.EqualFold(line[:15], []byte("Content-Length:")) {
			length, err = strconv.Atoi(string(bytes.TrimSpace(line[15:])))
			if err != nil {
				return fmt.Errorf("%w: %q", errBadResponse, line)
			}
		}
	}
	if length < 0 {
		return fmt.Errorf("%w: no Content-Length", errBadResponse)
	}
	_, err = c.reader.Discard(length)
	return err
}

func closedLoop(clients []*client, duration time.Duration) result {
	var wg sync.WaitGroup
	hists := make([]*histogram, len(clients))
	var errorsCount atomic.Int64
	var firstError atomic.Value
	start := time.Now()
	deadline := start.Add(duration)
	for i, c := range clients {
		hists[i] = newHistogram()
		wg.Add(1)
		go func(c *client, h *histogram) {
			defer wg.Done()
			for {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				if err := c.do(); err != nil {
					errorsCount.Add(1)
					firstError.CompareAndSwap(nil, err.Error())
					return
				}
				h.record(time.Since(t0))
			}
		}(c, hists[i])
	}
	wg.Wait()
	return summarize(hists, time.Since(start), errorsCount.Load(), firstError.Load())
}

func openLoop(clients []*client, rate float64, duration time.Duration) result {
	idle := make(chan *client, len(clients))
	for _, c := range clients {
		idle <- c
	}
	hist := newHistogram()
	var mu sync.Mutex
	var errorsCount atomic.Int64
	var firstError atomic.Value
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / rate)
	total := int(rate * duration.Seconds())
	start := time.Now()
	for i := 0; i < total; i++ {
		intended := start.Add(time.Duration(i) * interval)
		if wait := time.Until(intended); wait > 0 {
			time.Sleep(wait)
		}
		// Latency counts from the intended start, or from when the timer actually fired if
		// that was later: Go's sleep overshoots sub-millisecond waits (the poller's timeout
		// is in milliseconds), and that lateness is the generator's, not the proxy's. Waiting
		// for an idle connection below is counted.
		from := intended
		if fired := time.Now(); fired.After(intended) {
			from = fired
		}
		c := <-idle
		wg.Add(1)
		go func(c *client, from time.Time) {
			defer wg.Done()
			if err := c.do(); err != nil {
				errorsCount.Add(1)
				firstError.CompareAndSwap(nil, err.Error())
				return // a broken connection is not returned to the pool
			}
			elapsed := time.Since(from)
			mu.Lock()
			hist.record(elapsed)
			mu.Unlock()
			idle <- c
		}(c, from)
	}
	wg.Wait()
	return summarize([]*histogram{hist}, time.Since(start), errorsCount.Load(), firstError.Load())
}

// histogram: log-linear buckets, 1 µs to ~100 s with about 1% relative error.
type histogram struct {
	counts []int64
	max    time.Duration
}

const subBuckets = 128

func newHistogram() *histogram {
	return &histogram{counts: make([]int64, 64*subBuckets)}
}

func bucketOf(us float64) int {
	if us < 1 {
		return 0
	}
	exp := math.Floor(math.Log2(us))
	frac := us/math.Exp2(exp) - 1 // [0,1)
	b := int(exp)*subBuckets + int(frac*subBuckets)
	if b >= 64*subBuckets {
		b = 64*subBuckets - 1
	}
	return b
}

func bucketValue(b int) float64 {
	exp := b / subBuckets
	sub := b % subBuckets
	return math.Exp2(float64(exp)) * (1 + (float64(sub)+0.5)/subBuckets)
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(float64(d.Nanoseconds())/1000)]++
	if d > h.max {
		h.max = d
	}
}

func summarize(hists []*histogram, elapsed time.Duration, errs int64, firstError any) result {
	merged := newHistogram()
	var n int64
	for _, h := range hists {
		for i, c := range h.counts {
			merged.counts[i] += c
			n += c
		}
		if h.max > merged.max {
			merged.max = h.max
		}
	}
	q := func(p float64) float64 {
		if n == 0 {
			return 0
		}
		rank := int64(math.Ceil(p * float64(n)))
		var seen int64
		for i, c := range merged.counts {
			seen += c
			if seen >= rank {
				return math.Round(bucketValue(i)*10) / 10
			}
		}
		return float64(merged.max.Microseconds())
	}
	r := result{
		Requests: n,
		Errors:   errs,
		Seconds:  elapsed.Seconds(),
		RPS:      float64(n) / elapsed.Seconds(),
		P50us:    q(0.50),
		P90us:    q(0.90),
		P99us:    q(0.99),
		P999us:   q(0.999),
		MaxUs:    float64(merged.max.Microseconds()),
	}
	if s, ok := firstError.(string); ok {
		r.FirstError = s
	}
	return r
}
