package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// h2load (nghttp2) drives the h2 scenarios: wrk speaks HTTP/1.1 only. It
// sends the same headers on every request, and prints no percentiles, so
// the harness asks it for a per-request log (--log-file: start time,
// status, microseconds to the end of the response, tab-separated) and
// reads the latencies from there.

// h2loadArgs is h2load's command line: streams concurrent streams over
// h2Conns connections (-m streams per connection), one thread, for secs
// seconds (-D, a timing-based run: -n is ignored), with tok as the bearer
// token of every request.
func h2loadArgs(bin, url, tok, logFile string, streams, secs int) []string {
	return []string{bin,
		"-c", strconv.Itoa(h2Conns), "-m", strconv.Itoa(max(1, streams/h2Conns)), "-t", "1",
		"-D", strconv.Itoa(secs),
		"-H", "authorization: Bearer " + tok,
		"--log-file=" + logFile,
		url}
}

// parseH2load reads h2load's summary and its per-request log:
//
//	finished in 5.00s, 21097.50 req/s, 515.37KB/s
//	requests: 42195 total, 42227 started, 42195 done, 42195 succeeded, 0 failed, 0 errored, 0 timeout
//	status codes: 42195 2xx, 0 3xx, 0 4xx, 0 5xx
//
// Requests are those done; errors are the failed (h2load counts a 4xx or
// 5xx as failed), errored and timed-out ones.
func parseH2load(out string, log io.Reader) (wrkResult, error) {
	var r wrkResult
	var sawFinished, sawRequests bool
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "finished in "):
			f := strings.Fields(strings.TrimPrefix(line, "finished in "))
			if len(f) == 0 {
				return r, fmt.Errorf("h2load: %q", line)
			}
			d, err := parseWrkDuration(strings.TrimSuffix(f[0], ","))
			if err != nil {
				return r, fmt.Errorf("h2load: %v", err)
			}
			r.Duration, sawFinished = d, true
		case strings.HasPrefix(line, "requests: "):
			n, err := countsOf(strings.TrimPrefix(line, "requests: "))
			if err != nil {
				return r, fmt.Errorf("h2load: requests: %v", err)
			}
			r.Requests, r.Sent = n["done"], n["started"]
			r.Errors = n["failed"] + n["errored"] + n["timeout"]
			sawRequests = true
		case strings.HasPrefix(line, "status codes: "):
			n, err := countsOf(strings.TrimPrefix(line, "status codes: "))
			if err != nil {
				return r, fmt.Errorf("h2load: status codes: %v", err)
			}
			r.Status = n["4xx"] + n["5xx"]
		}
	}
	if !sawFinished || !sawRequests {
		return r, fmt.Errorf("h2load: no \"finished in\" or \"requests:\" line in its output")
	}
	var lat []time.Duration
	sc := bufio.NewScanner(log)
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), "\t")
		if len(f) != 3 {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			return r, fmt.Errorf("h2load log: %q", sc.Text())
		}
		us, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return r, fmt.Errorf("h2load log: %v", err)
		}
		lat = append(lat, time.Duration(us)*time.Microsecond)
	}
	if err := sc.Err(); err != nil {
		return r, err
	}
	if len(lat) == 0 && r.Requests > 0 {
		return r, fmt.Errorf("h2load log: empty, for %d requests", r.Requests)
	}
	r.setLatencies(lat)
	return r, nil
}

// countsOf reads "N name, N name, ..." into a map by name.
func countsOf(s string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, part := range strings.Split(s, ",") {
		f := strings.Fields(part)
		if len(f) != 2 {
			return nil, fmt.Errorf("%q", part)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, err
		}
		out[f[1]] = n
	}
	return out, nil
}
