package rdsca

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
)

// The trust stores. Their addresses come from AWS's "Using SSL/TLS to
// encrypt a connection to a DB instance or cluster"
// (docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html and
// its China edition at docs.amazonaws.cn; Teleport's lib/srv/db/ca.go uses
// the same templates):
//
//	aws (commercial)  https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
//	aws-us-gov        https://truststore.pki.us-gov-west-1.rds.amazonaws.com/<region>/<region>-bundle.pem
//	aws-cn            https://rds-truststore.s3.cn-north-1.amazonaws.com.cn/<region>/<region>-bundle.pem
//
// The commercial global bundle holds the roots and intermediates of every
// commercial region; GovCloud and China have their own CA hierarchies, so
// their regions use their own region bundles. AWS serves the certificates
// only over HTTPS, and so does this package (plain HTTP is allowed only to a
// loopback address, for tests).
const (
	commercialStore = "https://truststore.pki.rds.amazonaws.com"
	govCloudStore   = "https://truststore.pki.us-gov-west-1.rds.amazonaws.com"
	chinaStore      = "https://rds-truststore.s3.cn-north-1.amazonaws.com.cn"
)

// regionRE is the shape of an AWS region name (us-gov-west-1, cn-north-1).
var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// partition returns the AWS partition of a region: "aws-us-gov" for us-gov-*,
// "aws-cn" for cn-*, and "aws" for anything else (including "").
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	default:
		return "aws"
	}
}

// BundleURL returns the trust store URL of the bundle for region: the global
// bundle for commercial regions (and ""), the region's own bundle for
// GovCloud and China.
func BundleURL(region string) (string, error) {
	return bundleURL("", region)
}

// bundleURL is BundleURL with Options.BaseURL's override.
func bundleURL(base, region string) (string, error) {
	store, file := commercialStore, "/global/global-bundle.pem"
	switch partition(region) {
	case "aws-us-gov":
		store = govCloudStore
	case "aws-cn":
		store = chinaStore
	}
	if store != commercialStore {
		if !regionRE.MatchString(region) {
			return "", fmt.Errorf("rdsca: %q is not an AWS region name", region)
		}
		file = "/" + region + "/" + region + "-bundle.pem"
	}
	if base == "" {
		return store + file, nil
	}
	b, err := url.Parse(base)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, password included
		}
		return "", fmt.Errorf("rdsca: bad CA bundle base URL: %v", err)
	}
	if !strings.HasSuffix(b.Path, ".pem") {
		b.Path = strings.TrimRight(b.Path, "/") + file
		b.RawPath = ""
	}
	return b.String(), nil
}

// checkURL refuses anything but https://, except http:// to a loopback
// host (a test server). The bundle decides which servers are trusted, so it
// must not travel in the clear.
func checkURL(u *url.URL) error {
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("rdsca: refusing to fetch the CA bundle over plain HTTP from %s: use https://", displayURL(u))
	default:
		return fmt.Errorf("rdsca: refusing to fetch the CA bundle from %s: only https:// URLs are allowed", displayURL(u))
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// displayURL is u for logs, messages and the metadata file: without a
// password or a query (a mirror's presigned URL carries a signature there).
func displayURL(u *url.URL) string {
	v := *u
	v.RawQuery, v.ForceQuery, v.Fragment, v.RawFragment = "", false, "", ""
	return v.Redacted()
}

// cacheName is the cache file's name for a bundle URL: the URL's last path
// element (global-bundle.pem, us-gov-west-1-bundle.pem).
func cacheName(u *url.URL) string {
	name := path.Base(u.Path)
	if name == "." || name == "/" || name == "" || strings.HasPrefix(name, ".") {
		return "bundle.pem"
	}
	return name
}

// fetchResult is what the trust store answered.
type fetchResult struct {
	notModified  bool
	body         []byte
	etag         string
	lastModified string
}

// errStatus marks an answer other than 200 or 304.
var errStatus = errors.New("unexpected HTTP status")

// fetch GETs the bundle, conditionally when prev has validators. The body is
// bounded by MaxBundleSize; parsing is the caller's.
func fetch(ctx context.Context, client *http.Client, u *url.URL, prev *meta) (*fetchResult, error) {
	c := *client // shallow copy: the redirect policy is ours to tighten
	inner := client.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkURL(req.URL); err != nil {
			return err
		}
		if inner != nil {
			return inner(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "rdsgate")
	req.Header.Set("Accept", "application/x-pem-file, */*")
	if prev != nil {
		if prev.ETag != "" {
			req.Header.Set("If-None-Match", prev.ETag)
		}
		if prev.LastModified != "" {
			req.Header.Set("If-Modified-Since", prev.LastModified)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// url.Error shows the whole URL, query included.
			return nil, fmt.Errorf("%s %s: %w", ue.Op, displayURL(u), ue.Err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	res := &fetchResult{etag: resp.Header.Get("ETag"), lastModified: resp.Header.Get("Last-Modified")}
	switch {
	case resp.StatusCode == http.StatusNotModified && prev != nil:
		res.notModified = true
		return res, nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w %s", errStatus, resp.Status)
	}
	if resp.ContentLength > MaxBundleSize {
		return nil, fmt.Errorf("bundle of %d bytes is larger than the %d allowed", resp.ContentLength, MaxBundleSize)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBundleSize+1))
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	if len(body) > MaxBundleSize {
		return nil, fmt.Errorf("bundle is larger than the %d bytes allowed", MaxBundleSize)
	}
	res.body = body
	return res, nil
}
